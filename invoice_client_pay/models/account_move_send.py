from markupsafe import Markup

from odoo import api, models


class AccountMoveSend(models.AbstractModel):
    _inherit = "account.move.send"

    # === BUSINESS METHODS === #

    @api.model
    def _get_default_mail_body(self, move, mail_template, mail_lang):
        """Invoice emails say what the client's credit paid, what is still to
        pay, and carry the signed payment link."""
        body = super()._get_default_mail_body(move, mail_template, mail_lang)
        if move.move_type != "out_invoice" or move.state != "posted":
            return body
        has_to_pay = move._is_client_payable()
        if not has_to_pay and not move.amount_paid_from_credit:
            return body
        summary = self.env["ir.qweb"]._render(
            "invoice_client_pay.invoice_mail_credit_summary",
            {
                "move": move,
                "payment_url": move.get_secure_payment_url() if has_to_pay else False,
            },
        )
        return Markup(body or "") + Markup(summary)
