from odoo import api, fields, models


class AccountPayment(models.Model):
    _inherit = "account.payment"

    credit_request_id = fields.Many2one(
        comodel_name="account.credit.request",
        index="btree_not_null",
        copy=False,
        check_company=True,
        help="The credit request this payment pays: its amount becomes the "
        "client's credit.",
    )

    # ------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------

    @api.model_create_multi
    def create(self, vals_list):
        # A credit request's payment is the client's credit only once it is in the
        # ledger: force a journal entry whatever the journal's outstanding-account
        # setup (Odoo books none without one when full accounting is installed).
        if any(vals.get("credit_request_id") for vals in vals_list):
            self = self.with_context(force_payment_move=True)
        return super().create(vals_list)

    def write(self, vals):
        res = super().write(vals)
        if {"state", "amount", "credit_request_id"} & set(vals):
            self.credit_request_id._update_state_from_payments()
        return res

    # ------------------------------------------------------------
    # ACTION
    # ------------------------------------------------------------

    def action_post(self):
        res = super().action_post()
        self._apply_arrived_client_credit()
        return res

    # ------------------------------------------------------------
    # BUSINESS
    # ------------------------------------------------------------

    def _apply_arrived_client_credit(self):
        """New money that pays no invoice of its own is credit: let it pay the
        client's open invoices when the company wants that."""
        if self.env.context.get("skip_client_credit"):
            return
        arrived = self.filtered(
            lambda pay: (
                pay.partner_type == "customer"
                and pay.payment_type == "inbound"
                and pay.move_id.state == "posted"
                and not pay.invoice_ids
                and pay.company_id.auto_mark_invoices_paid
            )
        )
        for company in arrived.company_id:
            arrived.filtered(
                lambda pay, c=company: pay.company_id == c
            ).partner_id._apply_client_credit_to_open_invoices(company)
