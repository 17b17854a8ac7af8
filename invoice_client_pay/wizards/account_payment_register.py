from odoo import models


class AccountPaymentRegister(models.TransientModel):
    _inherit = "account.payment.register"

    # === BUSINESS METHODS === #

    def _create_payments(self):
        # The wizard posts its payments before matching them with the invoices it
        # pays: hold automatic credit back until then, and give only what is left
        # over (an overpayment) to the client's other open invoices.
        payments = super(
            AccountPaymentRegister, self.with_context(skip_client_credit=True)
        )._create_payments()
        payments._pay_open_invoices_from_credit()
        return payments
