from odoo import fields, models
from odoo.exceptions import UserError


class PaymentRefundWizard(models.TransientModel):
    """Refunds through the provider (account_payment's wizard): refunding a
    credit request's payment lowers the client's credit; more than the credit
    left needs the accountant to confirm a negative balance."""

    _inherit = "payment.refund.wizard"

    allow_negative_credit = fields.Boolean(
        string="Confirm Negative Balance",
        help="Refund even though the client has less credit left than the "
        "refund: the client then owes the difference.",
    )

    # === ACTION METHODS === #

    def action_refund(self):
        for wizard in self:
            wizard._check_client_credit_left()
        return super().action_refund()

    # === BUSINESS METHODS === #

    def _check_client_credit_left(self):
        self.ensure_one()
        if not self.env["account.move"]._is_client_credit_accountant():
            raise UserError(self.env._("Only accounting users can refund a payment."))
        tx = self.transaction_id
        if self.allow_negative_credit or not tx.credit_request_ids:
            return
        tx.partner_id.commercial_partner_id._check_refund_within_credit(
            self.amount_to_refund, tx.currency_id, tx.company_id
        )
