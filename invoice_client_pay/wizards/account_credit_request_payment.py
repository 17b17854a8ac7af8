from odoo import api, fields, models
from odoo.exceptions import UserError


class AccountCreditRequestPayment(models.TransientModel):
    _name = "account.credit.request.payment"
    _description = "Register a Credit Request Payment"
    _check_company_auto = True

    credit_request_id = fields.Many2one(
        comodel_name="account.credit.request",
        required=True,
        readonly=True,
        ondelete="cascade",
    )
    company_id = fields.Many2one(related="credit_request_id.company_id")
    partner_id = fields.Many2one(related="credit_request_id.commercial_partner_id")
    currency_id = fields.Many2one(related="credit_request_id.currency_id")
    amount_residual = fields.Monetary(related="credit_request_id.amount_residual")
    journal_id = fields.Many2one(
        comodel_name="account.journal",
        required=True,
        check_company=True,
        compute="_compute_journal_id",
        store=True,
        readonly=False,
        precompute=True,
        domain="[('type', 'in', ('bank', 'cash', 'credit'))]",
    )
    available_payment_method_line_ids = fields.Many2many(
        comodel_name="account.payment.method.line",
        compute="_compute_available_payment_method_line_ids",
    )
    payment_method_line_id = fields.Many2one(
        comodel_name="account.payment.method.line",
        string="Payment Method",
        required=True,
        compute="_compute_payment_method_line_id",
        store=True,
        readonly=False,
        precompute=True,
        domain="[('id', 'in', available_payment_method_line_ids)]",
    )
    amount = fields.Monetary(
        compute="_compute_amount",
        store=True,
        readonly=False,
        precompute=True,
    )
    payment_date = fields.Date(required=True, default=fields.Date.context_today)
    memo = fields.Char(
        compute="_compute_memo",
        store=True,
        readonly=False,
        precompute=True,
    )

    # ------------------------------------------------------------
    # COMPUTE
    # ------------------------------------------------------------

    @api.depends("company_id")
    def _compute_journal_id(self):
        for wizard in self:
            wizard.journal_id = self.env["account.journal"].search(
                [
                    *self.env["account.journal"]._check_company_domain(
                        wizard.company_id
                    ),
                    ("type", "in", ("bank", "cash")),
                ],
                limit=1,
            )

    @api.depends("journal_id")
    def _compute_available_payment_method_line_ids(self):
        for wizard in self:
            wizard.available_payment_method_line_ids = (
                wizard.journal_id._get_available_payment_method_lines("inbound")
            )

    @api.depends("journal_id")
    def _compute_payment_method_line_id(self):
        for wizard in self:
            lines = wizard.journal_id._get_available_payment_method_lines("inbound")
            if wizard.payment_method_line_id not in lines:
                wizard.payment_method_line_id = lines[:1]

    @api.depends("credit_request_id")
    def _compute_amount(self):
        for wizard in self:
            wizard.amount = wizard.credit_request_id.amount_residual

    @api.depends("credit_request_id")
    def _compute_memo(self):
        for wizard in self:
            wizard.memo = wizard.credit_request_id.name

    # ------------------------------------------------------------
    # ACTION
    # ------------------------------------------------------------

    def action_create_payment(self):
        self.ensure_one()
        request = self.credit_request_id
        request._lock_for_payment()
        self._check_amount()
        payment = self.env["account.payment"].create(self._prepare_payment_values())
        payment.action_post()
        request.message_post(
            body=self.env._(
                "Payment of %(amount)s registered: %(payment)s",
                amount=self.currency_id.format(self.amount),
                payment=payment._get_html_link(),
            )
        )
        return {"type": "ir.actions.act_window_close"}

    # ------------------------------------------------------------
    # BUSINESS
    # ------------------------------------------------------------

    def _check_amount(self):
        request = self.credit_request_id
        request._check_can_be_paid()
        currency = self.currency_id
        if currency.compare_amounts(self.amount, 0) <= 0:
            raise UserError(self.env._("The payment amount must be positive."))
        if currency.compare_amounts(self.amount, request.amount_residual) > 0:
            raise UserError(
                self.env._(
                    "You cannot register %(amount)s: only %(due)s is still to pay on "
                    "%(name)s.",
                    amount=currency.format(self.amount),
                    due=currency.format(request.amount_residual),
                    name=request.name,
                )
            )

    def _prepare_payment_values(self):
        request = self.credit_request_id
        return {
            "payment_type": "inbound",
            "partner_type": "customer",
            "partner_id": request.commercial_partner_id.id,
            "company_id": request.company_id.id,
            "journal_id": self.journal_id.id,
            "payment_method_line_id": self.payment_method_line_id.id,
            "currency_id": request.currency_id.id,
            "amount": self.amount,
            "date": self.payment_date,
            "memo": self.memo,
            "credit_request_id": request.id,
        }
