from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools.misc import clean_context

from ..utils import lock_rows


class AccountCreditRequestRefund(models.TransientModel):
    """Refund a credit request offline: money paid back by cash, cheque or bank
    transfer. The refund is matched with the client's credit, which is lower by
    as much."""

    _name = "account.credit.request.refund"
    _description = "Refund a Credit Request Offline"
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
    amount_paid = fields.Monetary(related="credit_request_id.amount_paid")
    credit_left = fields.Monetary(
        string="Client Credit Left",
        compute="_compute_credit_left",
    )
    journal_id = fields.Many2one(
        comodel_name="account.journal",
        required=True,
        check_company=True,
        compute="_compute_journal_id",
        store=True,
        readonly=False,
        precompute=True,
        domain="[('type', 'in', ('bank', 'cash'))]",
    )
    payment_method_line_id = fields.Many2one(
        comodel_name="account.payment.method.line",
        string="Payment Method",
        compute="_compute_payment_method_line_id",
        store=True,
        readonly=False,
        precompute=True,
    )
    amount = fields.Monetary(
        compute="_compute_amount", store=True, readonly=False, precompute=True
    )
    refund_date = fields.Date(required=True, default=fields.Date.context_today)
    memo = fields.Char(
        compute="_compute_memo", store=True, readonly=False, precompute=True
    )
    allow_negative_credit = fields.Boolean(
        string="Confirm Negative Balance",
        help="Refund even though the client has less credit left than the refund: "
        "the client then owes the difference.",
    )

    # === COMPUTE METHODS === #

    @api.depends("credit_request_id")
    def _compute_credit_left(self):
        for wizard in self:
            wizard.credit_left = wizard._get_credit_left()

    @api.depends("company_id")
    def _compute_journal_id(self):
        for wizard in self:
            if not wizard.journal_id:
                wizard.journal_id = self.env[
                    "account.journal"
                ]._get_client_payment_default_journal(wizard.company_id)

    @api.depends("journal_id")
    def _compute_payment_method_line_id(self):
        for wizard in self:
            lines = wizard.journal_id._get_available_payment_method_lines("outbound")
            if wizard.payment_method_line_id not in lines:
                wizard.payment_method_line_id = lines[:1]

    @api.depends("credit_request_id")
    def _compute_amount(self):
        for wizard in self:
            wizard.amount = max(
                min(wizard.credit_request_id.amount_paid, wizard._get_credit_left()),
                0.0,
            )

    @api.depends("credit_request_id")
    def _compute_memo(self):
        for wizard in self:
            wizard.memo = self.env._("Refund of %s", wizard.credit_request_id.name)

    # === ACTION METHODS === #

    def action_refund(self):
        self.ensure_one()
        # pylint: disable-next=context-overridden
        self = self.with_context(clean_context(self.env.context))  # noqa: PLW0642
        self.env["account.take.payment"]._check_access_take_payment()
        request = self.credit_request_id
        lock_rows(request)
        self._check_refund()
        payment = (
            self.env["account.payment"]
            .with_context(force_payment_move=True, skip_client_credit=True)
            .create(self._prepare_refund_values())
        )
        payment.action_post()
        debits = payment.move_id.line_ids._filter_open_receivable("debit")
        source_credits = request.payment_ids.move_id.line_ids._filter_open_receivable(
            "credit"
        )
        debits._reconcile_refund_with_client_credit(source_credits)
        request.message_post(
            body=self.env._(
                "%(amount)s refunded offline: %(payment)s. The client's credit is "
                "lower by as much.",
                amount=self.currency_id.format(self.amount),
                payment=payment._get_html_link(),
            )
        )
        return {"type": "ir.actions.act_window_close"}

    # === BUSINESS METHODS === #

    def _get_credit_left(self):
        """The client's credit left, in the request's currency."""
        self.ensure_one()
        request = self.credit_request_id
        if not request:
            return 0.0
        balance = request.commercial_partner_id._get_fresh_client_credit(
            request.company_id
        )
        return request.company_id.currency_id._convert(
            balance,
            request.currency_id,
            request.company_id,
            fields.Date.context_today(self),
        )

    def _check_refund(self):
        self.ensure_one()
        request = self.credit_request_id
        currency = self.currency_id
        if currency.compare_amounts(self.amount, 0) <= 0:
            raise UserError(self.env._("The refund amount must be positive."))
        refundable = currency.round(
            request.amount_paid - request._get_amount_refunded()
        )
        if currency.compare_amounts(self.amount, refundable) > 0:
            raise UserError(
                self.env._(
                    "You cannot refund %(amount)s: only %(left)s of what was paid on "
                    "%(name)s is not refunded yet.",
                    amount=currency.format(self.amount),
                    left=currency.format(refundable),
                    name=request.name,
                )
            )
        if not self.allow_negative_credit:
            request.commercial_partner_id._check_refund_within_credit(
                self.amount, currency, request.company_id
            )

    def _prepare_refund_values(self):
        request = self.credit_request_id
        return {
            "payment_type": "outbound",
            "partner_type": "customer",
            "partner_id": request.commercial_partner_id.id,
            "company_id": request.company_id.id,
            "journal_id": self.journal_id.id,
            "payment_method_line_id": self.payment_method_line_id.id,
            "currency_id": request.currency_id.id,
            "amount": self.amount,
            "date": self.refund_date,
            "memo": self.memo,
            "icp_refunded_request_id": request.id,
        }
