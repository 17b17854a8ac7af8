from odoo import api, fields, models
from odoo.exceptions import AccessError


class ReportClientCreditStatement(models.AbstractModel):
    """The credit statement of clients (PDF and HTML): every movement of their
    credit, oldest first, with the running balance, in the current company."""

    _name = "report.invoice_client_pay.report_client_credit_statement"
    _description = "Client Credit Statement"

    # === BUSINESS METHODS === #

    @api.model
    def _get_report_values(self, docids, data=None):
        partners = self.env["res.partner"].browse(docids).commercial_partner_id
        self._check_statement_access(partners)
        company = self.env.company
        Line = self.env["account.move.line"]
        statements = {}
        for partner in partners:
            statements[partner.id] = Line._read_client_credit_statement(
                partner, company
            )
        return {
            "doc_ids": partners.ids,
            "doc_model": "res.partner",
            "docs": partners.sudo(),
            "statements": statements,
            "company": company,
            "currency": company.currency_id,
            "statement_date": fields.Date.context_today(self),
        }

    @api.model
    def _check_statement_access(self, partners):
        """Accounting users read any client's statement; anyone else only their
        own commercial entity's (a portal client through /report/ URLs too)."""
        user = self.env.user
        if (
            self.env.su
            or user.has_group("account.group_account_invoice")
            or user.has_group("account.group_account_readonly")
        ):
            return
        if partners - user.partner_id.commercial_partner_id:
            raise AccessError(
                self.env._("You can only read your own credit statement.")
            )
