# One file per feature (the team splits the work by file): the classes that
# inherit the same model are not merged on purpose.
# pylint: disable=consider-merging-classes-inherited
from odoo import models
from odoo.exceptions import UserError


class AccountMove(models.Model):
    _inherit = "account.move"

    # ------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------

    def _post(self, soft=True):
        posted = super()._post(soft=soft)
        posted._icp_check_auto_topup()
        return posted

    # ------------------------------------------------------------
    # ACTION
    # ------------------------------------------------------------

    def action_take_payment(self):
        """Open the Take Payment wizard: charge a saved payment method of the
        client, or record cash, a cheque or a bank transfer."""
        self.ensure_one()
        self._check_client_credit_take_payment()
        return {
            "name": self.env._("Take Payment"),
            "type": "ir.actions.act_window",
            "res_model": "account.take.payment",
            "view_mode": "form",
            "target": "new",
            "context": {"default_move_id": self.id},
        }

    # ------------------------------------------------------------
    # BUSINESS
    # ------------------------------------------------------------

    def _check_client_credit_take_payment(self):
        self.ensure_one()
        self.env["account.take.payment"]._check_access_take_payment()
        if not self._is_client_payable_invoice():
            raise UserError(
                self.env._("Invoice %s has nothing left to pay.", self.display_name)
            )

    def _pay_from_client_credit(self, amount):
        res = super()._pay_from_client_credit(amount)
        self._icp_check_auto_topup()
        return res

    def _icp_check_auto_topup(self):
        """Credit was used: top up the clients whose credit is now too low."""
        invoices = self.filtered(
            lambda move: (
                move.move_type == "out_invoice"
                and move.commercial_partner_id.auto_topup
            )
        )
        for company in invoices.company_id:
            invoices.filtered(
                lambda move, c=company: move.company_id == c
            ).commercial_partner_id.with_company(company)._icp_check_auto_topup(company)
