from odoo import api, fields, models


class ResPartner(models.Model):
    _inherit = "res.partner"

    client_credit_currency_id = fields.Many2one(
        comodel_name="res.currency",
        compute="_compute_client_credit_balance",
    )
    client_credit_balance = fields.Monetary(
        string="Credit Balance",
        currency_field="client_credit_currency_id",
        compute="_compute_client_credit_balance",
        help="What the client has paid in advance in this company: payments not "
        "yet matched to an invoice and open credit notes, read from the ledger.",
    )

    # ------------------------------------------------------------
    # COMPUTE
    # ------------------------------------------------------------

    @api.depends_context("company")
    def _compute_client_credit_balance(self):
        company = self.env.company
        commercial_partners = self.commercial_partner_id.filtered("id")
        balances = self.env["account.move.line"]._read_client_credit_balances(
            commercial_partners, company
        )
        for partner in self:
            partner.client_credit_currency_id = company.currency_id
            partner.client_credit_balance = balances.get(
                partner.commercial_partner_id.id, 0.0
            )

    # ------------------------------------------------------------
    # ACTION
    # ------------------------------------------------------------

    def action_view_client_credit_moves(self):
        """Journal items that added to the client's credit (payments, credit
        notes) and what used them, for the commercial entity."""
        self.ensure_one()
        commercial_partner = self.commercial_partner_id
        return {
            "name": self.env._("Credit of %s", commercial_partner.display_name),
            "type": "ir.actions.act_window",
            "res_model": "account.move.line",
            "view_mode": "list",
            "views": [
                (
                    self.env.ref(
                        "invoice_client_pay.view_move_line_client_credit_list"
                    ).id,
                    "list",
                )
            ],
            "domain": [
                ("company_id", "=", self.env.company.id),
                ("partner_id", "child_of", commercial_partner.id),
                ("account_type", "=", "asset_receivable"),
                ("parent_state", "=", "posted"),
                "|",
                ("balance", "<", 0),
                ("matched_credit_ids.client_credit_applied", "=", True),
            ],
            "context": {"create": False, "search_default_group_by_move": 0},
        }

    # ------------------------------------------------------------
    # BUSINESS
    # ------------------------------------------------------------

    def _apply_client_credit_to_open_invoices(self, company):
        """Pay the clients' open invoices from their credit, oldest first.

        Called when credit arrives (a credit request paid, an overpayment) in a
        company that marks invoices paid automatically.
        """
        commercial_partners = self.commercial_partner_id
        if not commercial_partners or not company.auto_mark_invoices_paid:
            return
        Line = self.env["account.move.line"]
        debits = Line.search(
            Line._client_open_debit_domain(commercial_partners, company)
        )
        if not debits:
            return
        credits = Line.search(Line._client_credit_domain(commercial_partners, company))
        if credits:
            (debits + credits)._lock_for_client_credit()
            (debits + credits)._reconcile_client_credit()
