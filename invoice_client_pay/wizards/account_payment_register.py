from odoo import models


class AccountPaymentRegister(models.TransientModel):
    _inherit = "account.payment.register"

    def _create_payments(self):
        # The wizard posts its payments before matching them with the invoices it
        # pays: hold automatic credit back until then, and give only what is left
        # over (an overpayment) to the client's other open invoices.
        payments = super(
            AccountPaymentRegister, self.with_context(skip_client_credit=True)
        )._create_payments()
        received = payments.filtered(
            lambda pay: pay.partner_type == "customer" and pay.payment_type == "inbound"
        )
        for company in received.company_id:
            received.filtered(
                lambda pay, c=company: pay.company_id == c
            ).partner_id._apply_client_credit_to_open_invoices(company)
        return payments
