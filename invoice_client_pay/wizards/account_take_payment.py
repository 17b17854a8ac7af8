from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools.misc import clean_context

from ..utils import lock_rows


class AccountTakePayment(models.TransientModel):
    """Take a payment from the back office, on an invoice or a credit request.

    Online: charge one of the client's saved payment methods (card, direct
    debit mandate) through its provider. Offline: record cash, a cheque or a
    bank transfer into a journal. Full or partial, never more than what is
    still to pay once the payments already on their way are counted.
    """

    _name = "account.take.payment"
    _description = "Take a Payment"
    _check_company_auto = True

    move_id = fields.Many2one(
        comodel_name="account.move",
        string="Invoice",
        readonly=True,
        ondelete="cascade",
    )
    credit_request_id = fields.Many2one(
        comodel_name="account.credit.request",
        readonly=True,
        ondelete="cascade",
    )
    company_id = fields.Many2one(
        comodel_name="res.company",
        compute="_compute_document_values",
        store=True,
        precompute=True,
    )
    partner_id = fields.Many2one(
        comodel_name="res.partner",
        string="Client",
        compute="_compute_document_values",
        store=True,
        precompute=True,
    )
    currency_id = fields.Many2one(
        comodel_name="res.currency",
        compute="_compute_document_values",
        store=True,
        precompute=True,
    )
    amount_due = fields.Monetary(
        string="Still to Pay",
        compute="_compute_amount_due",
        help="What is still to pay, less the payments already on their way.",
    )
    payment_mode = fields.Selection(
        selection=[
            ("online", "Online: saved payment method"),
            ("offline", "Offline: cash, cheque, bank transfer"),
        ],
        required=True,
        compute="_compute_payment_mode",
        store=True,
        readonly=False,
        precompute=True,
    )
    suitable_token_ids = fields.Many2many(
        comodel_name="payment.token",
        compute="_compute_suitable_token_ids",
    )
    token_id = fields.Many2one(
        comodel_name="payment.token",
        string="Saved Payment Method",
        compute="_compute_token_id",
        store=True,
        readonly=False,
        precompute=True,
        domain="[('id', 'in', suitable_token_ids)]",
    )
    journal_id = fields.Many2one(
        comodel_name="account.journal",
        compute="_compute_journal_id",
        store=True,
        readonly=False,
        precompute=True,
        check_company=True,
        domain="[('type', 'in', ('bank', 'cash', 'credit'))]",
    )
    available_payment_method_line_ids = fields.Many2many(
        comodel_name="account.payment.method.line",
        compute="_compute_available_payment_method_line_ids",
    )
    payment_method_line_id = fields.Many2one(
        comodel_name="account.payment.method.line",
        string="Payment Method",
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

    # === COMPUTE METHODS === #

    @api.depends("move_id", "credit_request_id")
    def _compute_document_values(self):
        for wizard in self:
            document = wizard._get_document()
            wizard.company_id = document.company_id
            wizard.partner_id = document.commercial_partner_id
            wizard.currency_id = document.currency_id

    @api.depends("move_id", "credit_request_id")
    def _compute_amount_due(self):
        for wizard in self:
            wizard.amount_due = (
                wizard._get_amount_due() if wizard._get_document() else 0.0
            )

    @api.depends("suitable_token_ids")
    def _compute_payment_mode(self):
        for wizard in self:
            if not wizard.payment_mode:
                wizard.payment_mode = (
                    "online" if wizard.suitable_token_ids else "offline"
                )

    @api.depends("partner_id", "company_id", "currency_id")
    def _compute_suitable_token_ids(self):
        for wizard in self:
            if not wizard.partner_id:
                wizard.suitable_token_ids = False
                continue
            wizard.suitable_token_ids = wizard._get_suitable_tokens()

    @api.depends("suitable_token_ids")
    def _compute_token_id(self):
        for wizard in self:
            if wizard.token_id in wizard.suitable_token_ids:
                continue
            preferred = (
                wizard.partner_id.sudo()
                .with_company(wizard.company_id)
                .auto_charge_token_id
            )
            wizard.token_id = (
                preferred
                if preferred in wizard.suitable_token_ids
                else wizard.suitable_token_ids[:1]
            )

    @api.depends("company_id")
    def _compute_journal_id(self):
        for wizard in self:
            if wizard.journal_id:
                continue
            wizard.journal_id = self.env[
                "account.journal"
            ]._get_client_payment_default_journal(wizard.company_id)

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

    @api.depends("move_id", "credit_request_id")
    def _compute_amount(self):
        for wizard in self:
            wizard.amount = wizard._get_amount_due() if wizard._get_document() else 0.0

    @api.depends("move_id", "credit_request_id")
    def _compute_memo(self):
        for wizard in self:
            if wizard.move_id:
                wizard.memo = wizard.move_id.payment_reference or wizard.move_id.name
            else:
                wizard.memo = wizard.credit_request_id.name

    # === ACTION METHODS === #

    def action_take_payment(self):
        """Lock the document, re-read what is still to pay, then charge the
        saved method or record the offline payment."""
        self.ensure_one()
        # The wizard's own defaults (default_move_id...) must not leak into the
        # payments and transactions created below.
        # The context is replaced, not extended, on purpose.
        # pylint: disable=context-overridden
        self = self.with_context(clean_context(self.env.context))  # noqa: PLW0642
        self._check_access_take_payment()
        self._lock_document()
        # A pending payment whose window is over is said so once, and no longer
        # counts as on its way.
        self._get_document().sudo().transaction_ids._release_lapsed_pending()
        self._check_amount()
        if self.payment_mode == "offline":
            payment = self._take_offline_payment()
            return self._get_notification_action(
                self.env._(
                    "Payment of %(amount)s recorded: %(payment)s.",
                    amount=self.currency_id.format(self.amount),
                    payment=payment.name,
                ),
                "success",
            )
        return self._get_charge_notification_action(self._take_online_payment())

    # === BUSINESS METHODS === #

    def _get_document(self):
        self.ensure_one()
        return self.move_id or self.credit_request_id

    def _get_suitable_tokens(self):
        """The client's saved methods whose provider can charge them here."""
        self.ensure_one()
        return (
            self.env["payment.token"]
            .sudo()
            .search(
                [
                    *self.env["payment.token"]._check_company_domain(self.company_id),
                    ("partner_id", "child_of", self.partner_id.id),
                    ("provider_id.state", "in", ("enabled", "test")),
                ]
            )
        )

    def _get_amount_due(self):
        """Still to pay on the document, less the charges already on their way."""
        self.ensure_one()
        return self.env["payment.transaction"]._get_amount_to_charge(
            self._get_document()
        )

    def _check_access_take_payment(self):
        if not self.env["account.move"]._is_client_payment_user():
            raise AccessError(
                self.env._("Only billing and accounting users can take a payment.")
            )

    def _lock_document(self):
        """Block other payments of the document until this transaction ends,
        then re-read it (Odoo retries the request when another worker changed
        it meanwhile). An invoice's open receivable items are locked too: Pay
        From Credit and the automatic application of credit lock them."""
        self.ensure_one()
        document = self._get_document()
        lock_rows(document)
        if self.move_id:
            lock_rows(self.move_id._get_open_receivable_lines())

    def _check_amount(self):
        self.ensure_one()
        document = self._get_document()
        currency = self.currency_id
        if self.move_id:
            self.move_id._check_client_payable()
        else:
            document._check_can_be_paid()
        if currency.compare_amounts(self.amount, 0) <= 0:
            raise UserError(self.env._("The payment amount must be positive."))
        due = self._get_amount_due()
        if currency.compare_amounts(self.amount, due) > 0:
            raise UserError(
                self.env._(
                    "You cannot take %(amount)s: only %(due)s is still to pay on "
                    "%(name)s (payments on their way included).",
                    amount=currency.format(self.amount),
                    due=currency.format(due),
                    name=document.display_name,
                )
            )
        if self.payment_mode == "online":
            if not self.token_id:
                raise UserError(
                    self.env._("Choose the saved payment method to charge.")
                )
            if self.token_id not in self._get_suitable_tokens():
                raise UserError(
                    self.env._(
                        "%s cannot be charged: it is not a saved payment method of "
                        "this client, or its provider is disabled.",
                        self.token_id.display_name,
                    )
                )
        elif not self.journal_id or not self.payment_method_line_id:
            raise UserError(self.env._("Choose the journal and the payment method."))

    def _take_offline_payment(self):
        self.ensure_one()
        if self.credit_request_id:
            return self._take_offline_credit_request_payment()
        # Invoices: Odoo's own register wizard books and reconciles the payment
        # (always with a journal entry, as for credit requests: the money is in
        # the ledger, and what is still to pay is read from it).
        register = (
            self.env["account.payment.register"]
            .with_context(
                active_model="account.move",
                active_ids=self.move_id.ids,
                force_payment_move=True,
            )
            .create(
                {
                    "amount": self.amount,
                    "journal_id": self.journal_id.id,
                    "payment_method_line_id": self.payment_method_line_id.id,
                    "payment_date": self.payment_date,
                    "communication": self.memo,
                    "payment_difference_handling": "open",
                }
            )
        )
        return register._create_payments()

    def _take_offline_credit_request_payment(self):
        """The request's payment, left unmatched: it is the client's credit."""
        self.ensure_one()
        request = self.credit_request_id
        payment = self.env["account.payment"].create(
            request._prepare_payment_values(
                self.amount,
                self.journal_id,
                payment_method_line_id=self.payment_method_line_id.id,
                date=self.payment_date,
                memo=self.memo,
            )
        )
        payment.action_post()
        # Billing users may only read requests: the note is the system's.
        request.sudo().message_post(
            author_id=self.env.user.partner_id.id,
            body=self.env._(
                "Payment of %(amount)s taken: %(payment)s",
                amount=self.currency_id.format(self.amount),
                payment=payment._get_html_link(),
            ),
        )
        return payment

    def _take_online_payment(self):
        self.ensure_one()
        document = self._get_document()
        return self.env["payment.transaction"]._charge_saved_method(
            self.token_id,
            self.amount,
            self.currency_id,
            document.partner_id,
            document,
        )

    def _get_charge_notification_action(self, tx):
        """What the accountant is told once the saved method was charged."""
        self.ensure_one()
        amount = self.currency_id.format(self.amount)
        if tx.state == "done":
            return self._get_notification_action(
                self.env._(
                    "%(amount)s charged to %(method)s.",
                    amount=amount,
                    method=tx.token_id.display_name,
                ),
                "success",
            )
        if tx.state in ("pending", "authorized"):
            return self._get_notification_action(
                self.env._(
                    "The charge of %(amount)s is on its way (%(ref)s): the payment is "
                    "recorded when the provider confirms it.",
                    amount=amount,
                    ref=tx.reference,
                ),
                "info",
            )
        return self._get_notification_action(
            self.env._(
                "The charge of %(amount)s failed: %(reason)s",
                amount=amount,
                reason=tx.state_message or tx.state,
            ),
            "danger",
        )

    def _get_notification_action(self, message, kind):
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "message": message,
                "type": kind,
                "sticky": kind == "danger",
                "next": {"type": "ir.actions.act_window_close"},
            },
        }
