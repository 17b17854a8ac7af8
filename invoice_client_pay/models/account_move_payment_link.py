from odoo import models


class AccountMove(models.Model):
    _name = "account.move"
    _inherit = ["account.move", "invoice_client_pay.payment.link.mixin"]

    def get_secure_payment_url(self):
        """The absolute link, carried by invoice emails, that opens this invoice's
        payment page without logging in."""
        self.ensure_one()
        return self.get_base_url() + self._get_payment_link_path()

    def _notify_get_recipients_groups(self, message, model_description, msg_vals=False):
        # Invoice emails (sending, reminders) carry the signed, expiring link
        # instead of the raw portal token.
        groups = super()._notify_get_recipients_groups(
            message, model_description, msg_vals=msg_vals
        )
        if not self or not self._is_client_payable_invoice():
            return groups
        for __, __, group_data in groups:
            button = group_data.get("button_access")
            if button and "access_token=" in (button.get("url") or ""):
                button["url"] = self.get_secure_payment_url()
        return groups

    def _is_client_payable_invoice(self):
        """A posted customer invoice with something still to pay."""
        self.ensure_one()
        return (
            self.move_type == "out_invoice"
            and self.state == "posted"
            and self.payment_state not in ("paid", "in_payment", "reversed", "blocked")
            and self.currency_id.compare_amounts(self.amount_residual, 0) > 0
        )

    def _get_client_unpaid_invoice_domain(self, commercial_partner, company=None):
        domain = [
            ("move_type", "=", "out_invoice"),
            ("state", "=", "posted"),
            ("commercial_partner_id", "=", commercial_partner.id),
            ("payment_state", "not in", ("paid", "in_payment", "reversed", "blocked")),
            ("amount_residual", ">", 0),
        ]
        if company:
            domain.append(("company_id", "=", company.id))
        return domain
