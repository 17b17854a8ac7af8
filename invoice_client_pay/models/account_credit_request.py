import logging
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

from ..utils import lock_rows
from .payment_transaction import POST_PROCESS_BATCH

_logger = logging.getLogger(__name__)

# Payment states in which a payment's money is in the ledger.
POSTED_PAYMENT_STATES = ("in_process", "paid")
# How many due requests one run of the auto-charge scheduled action takes at most.
AUTO_CHARGE_BATCH = 1000
# How many done charges of a run are handed to the post-processing at once: a
# second cron worker books them while the run goes on. One batch of the
# post-processing: fewer would make more runs of it (each has a fixed cost, and
# takes the processor from the charging), more would leave more to book once
# the run ends.
AUTO_CHARGE_TRIGGER_EVERY = POST_PROCESS_BATCH


class AccountCreditRequest(models.Model):
    """A request to a client to top up their credit balance.

    Nothing is booked until money arrives; then each payment (offline, online,
    or charged automatically to a saved payment method) is the client's credit.
    """

    _name = "account.credit.request"
    _description = "Credit Request"
    # The payment link mixin comes before portal.mixin: its portal-link
    # overrides must run first (see the mixin).
    _inherit = [
        "invoice_client_pay.payment.link.mixin",
        "portal.mixin",
        "mail.thread",
        "mail.activity.mixin",
    ]
    _order = "date desc, id desc"
    _check_company_auto = True

    name = fields.Char(
        string="Number",
        required=True,
        readonly=True,
        copy=False,
        default="/",
        index="trigram",
    )
    partner_id = fields.Many2one(
        comodel_name="res.partner",
        string="Client",
        required=True,
        tracking=True,
        check_company=True,
        index=True,
        domain="[('type', '!=', 'private')]",
    )
    commercial_partner_id = fields.Many2one(
        related="partner_id.commercial_partner_id",
        store=True,
        index=True,
        string="Commercial Entity",
    )
    company_id = fields.Many2one(
        comodel_name="res.company",
        required=True,
        default=lambda self: self.env.company,
        index=True,
    )
    currency_id = fields.Many2one(
        comodel_name="res.currency",
        required=True,
        compute="_compute_currency_id",
        store=True,
        readonly=False,
        precompute=True,
        tracking=True,
    )
    amount = fields.Monetary(required=True, tracking=True)
    date = fields.Date(
        string="Request Date",
        required=True,
        default=fields.Date.context_today,
        copy=False,
    )
    date_due = fields.Date(string="Due Date", tracking=True, copy=False)
    note = fields.Html()
    state = fields.Selection(
        selection=[
            ("draft", "Draft"),
            ("sent", "Sent"),
            ("pending", "Pending"),
            ("paid", "Paid"),
            ("cancel", "Cancelled"),
        ],
        default="draft",
        required=True,
        readonly=True,
        copy=False,
        tracking=True,
        index=True,
        help="Pending: a payment is clearing (bank transfer, direct debit); its "
        "money is not yet credit.",
    )
    payment_ids = fields.One2many(
        comodel_name="account.payment",
        inverse_name="credit_request_id",
        string="Payments",
        readonly=True,
    )
    transaction_ids = fields.Many2many(
        comodel_name="payment.transaction",
        relation="account_credit_request_transaction_rel",
        column1="credit_request_id",
        column2="transaction_id",
        string="Transactions",
        readonly=True,
        copy=False,
    )
    amount_paid = fields.Monetary(
        compute="_compute_amounts",
        store=True,
        help="Posted payments of this request, in its currency.",
    )
    amount_residual = fields.Monetary(
        string="Still to Pay",
        compute="_compute_amounts",
        store=True,
    )
    payment_count = fields.Integer(compute="_compute_payment_count")
    is_sent = fields.Boolean(
        readonly=True,
        copy=False,
        help="The request was emailed to the client: reopened, it is 'sent' again.",
    )
    auto_charge_attempt_count = fields.Integer(
        string="Auto-charge Attempts",
        readonly=True,
        copy=False,
        help="Failed automatic charges of this request so far.",
    )
    auto_charge_next_date = fields.Datetime(
        string="Next Auto-charge",
        readonly=True,
        copy=False,
        index="btree_not_null",
        help="When the scheduled action charges this request next; empty when "
        "it is not charged automatically (any more).",
    )
    auto_charge_last_error = fields.Char(
        string="Last Auto-charge Error", readonly=True, copy=False
    )
    is_auto_topup = fields.Boolean(
        string="Automatic Top-up",
        readonly=True,
        copy=False,
        help="Created because the client's credit fell below its top-up threshold.",
    )

    # === COMPUTE METHODS === #

    @api.depends("company_id")
    def _compute_currency_id(self):
        for request in self:
            request.currency_id = request.currency_id or request.company_id.currency_id

    @api.depends(
        "amount",
        "currency_id",
        "payment_ids.state",
        "payment_ids.amount",
        "payment_ids.currency_id",
        "payment_ids.date",
    )
    def _compute_amounts(self):
        for request in self:
            paid = 0.0
            for payment in request.payment_ids:
                if payment.state not in POSTED_PAYMENT_STATES:
                    continue
                paid += payment.currency_id._convert(
                    payment.amount,
                    request.currency_id,
                    request.company_id,
                    payment.date,
                )
            request.amount_paid = request.currency_id.round(paid)
            request.amount_residual = max(
                request.currency_id.round(request.amount - paid), 0.0
            )

    def _compute_payment_count(self):
        for request in self:
            request.payment_count = len(request.payment_ids)

    def _compute_access_url(self):  # pylint: disable=missing-return
        super()._compute_access_url()
        for request in self:
            request.access_url = f"/my/credit_requests/{request.id}"

    # === CONSTRAINT METHODS === #

    @api.constrains("amount")
    def _check_amount_positive(self):
        for request in self:
            if request.currency_id.compare_amounts(request.amount, 0) <= 0:
                raise ValidationError(
                    self.env._(
                        "The amount of credit request %s must be positive.",
                        request.name,
                    )
                )

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if vals.get("name", "/") == "/":
                company = self.env["res.company"].browse(
                    vals.get("company_id") or self.env.company.id
                )
                vals["name"] = (
                    self.env["ir.sequence"]
                    .with_company(company)
                    .next_by_code("account.credit.request", vals.get("date"))
                    or "/"
                )
        return super().create(vals_list)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_not_draft(self):
        if any(request.state not in ("draft", "cancel") for request in self):
            raise UserError(
                self.env._("Only draft or cancelled credit requests can be deleted.")
            )
        if self.payment_ids:
            raise UserError(
                self.env._("A credit request with payments cannot be deleted.")
            )

    # === ACTION METHODS === #

    def action_send(self):
        """Confirm the requests and email them with their secure payment link;
        then charge those whose client chose automatic charges."""
        template = self.env.ref("invoice_client_pay.mail_template_credit_request")
        for request in self:
            if request.state not in ("draft", "sent"):
                raise UserError(
                    self.env._(
                        "Credit request %(name)s is %(state)s: only draft or sent "
                        "requests can be sent.",
                        name=request.name,
                        state=request._get_state_label(),
                    )
                )
            if not request.partner_id.email:
                raise UserError(
                    self.env._(
                        "%(client)s has no email address: add one to send credit "
                        "request %(name)s.",
                        client=request.partner_id.display_name,
                        name=request.name,
                    )
                )
            request._portal_ensure_token()
            request.write({"state": "sent", "is_sent": True})
            request.message_post_with_source(template, subtype_xmlid="mail.mt_comment")
        self._schedule_auto_charge()
        return True

    def action_register_payment(self):
        """Record money received outside Odoo (cash, cheque, bank): the Take
        Payment wizard, offline."""
        action = self.action_take_payment()
        action["context"]["default_payment_mode"] = "offline"
        return action

    def action_take_payment(self):
        """Open the Take Payment wizard: charge a saved payment method of the
        client, or record cash, a cheque or a bank transfer."""
        self.ensure_one()
        self.env["account.take.payment"]._check_access_take_payment()
        self._check_can_be_paid()
        return {
            "name": self.env._("Take Payment"),
            "type": "ir.actions.act_window",
            "res_model": "account.take.payment",
            "view_mode": "form",
            "target": "new",
            "context": {"default_credit_request_id": self.id},
        }

    def action_refund_offline(self):
        """Open the offline refund wizard (cash, cheque, bank transfer)."""
        self.ensure_one()
        if not self.env["account.move"]._is_client_credit_accountant():
            raise AccessError(self.env._("Only accounting users can refund a payment."))
        if self.currency_id.compare_amounts(self.amount_paid, 0) <= 0:
            raise UserError(
                self.env._(
                    "Nothing was paid on %s: there is nothing to refund.", self.name
                )
            )
        return {
            "name": self.env._("Refund Offline"),
            "type": "ir.actions.act_window",
            "res_model": "account.credit.request.refund",
            "view_mode": "form",
            "target": "new",
            "context": {"default_credit_request_id": self.id},
        }

    def action_cancel(self):
        for request in self:
            if request.payment_ids.filtered(
                lambda pay: pay.state in POSTED_PAYMENT_STATES
            ):
                raise UserError(
                    self.env._(
                        "Credit request %s has a posted payment: reverse or cancel "
                        "the payment first, then cancel the request.",
                        request.name,
                    )
                )
        self.state = "cancel"
        return True

    def action_draft(self):
        if any(request.state != "cancel" for request in self):
            raise UserError(
                self.env._("Only cancelled credit requests can be reset to draft.")
            )
        self.state = "draft"
        return True

    def action_view_payments(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "account.action_account_payments"
        )
        action["domain"] = [("id", "in", self.payment_ids.ids)]
        action["context"] = {"create": False}
        if len(self.payment_ids) == 1:
            action.update(view_mode="form", views=False, res_id=self.payment_ids.id)
        return action

    # === BUSINESS METHODS - STATE === #

    @api.model
    def _get_client_payable_domain(self):
        """The requests a client can pay: sent, or pending (a bank transfer may
        never arrive; the client can still pay another way), with something
        still to pay."""
        return [("state", "in", ("sent", "pending")), ("amount_residual", ">", 0)]

    def _is_client_payable(self):
        self.ensure_one()
        return bool(self.filtered_domain(self._get_client_payable_domain()))

    @api.model
    def _get_portal_visible_domain(self):
        """The requests a client sees on the portal: a draft is not yet the
        client's business."""
        return [("state", "!=", "draft")]

    def _is_payment_link_visible(self):
        self.ensure_one()
        return bool(self.filtered_domain(self._get_portal_visible_domain()))

    def _get_state_label(self):
        self.ensure_one()
        return dict(self._fields["state"]._description_selection(self.env))[self.state]

    def _check_can_be_paid(self):
        for request in self:
            if request.state in ("paid", "cancel"):
                raise UserError(
                    self.env._(
                        "Credit request %(name)s is %(state)s and cannot be paid.",
                        name=request.name,
                        state=request._get_state_label(),
                    )
                )

    def _update_state_from_payments(self):
        """Follow the money: paid once posted payments cover the amount; open
        again when they no longer do (a payment cancelled or reversed)."""
        for request in self:
            if request.state == "cancel":
                continue
            if request.currency_id.compare_amounts(request.amount_residual, 0) <= 0:
                new_state = "paid"
            elif request._has_pending_transaction():
                new_state = "pending"
            elif request.state in ("paid", "pending"):
                new_state = "sent" if request.is_sent else "draft"
            else:
                new_state = request.state
            if new_state != request.state:
                # The state follows the money, whoever moved it (a billing user
                # taking a payment may only read requests).
                request.sudo().state = new_state

    def _prepare_payment_values(self, amount, journal, **values):
        """The values of a customer payment of this request (offline or
        online): posted, it is the client's credit."""
        self.ensure_one()
        return {
            "payment_type": "inbound",
            "partner_type": "customer",
            "partner_id": self.commercial_partner_id.id,
            "company_id": self.company_id.id,
            "currency_id": self.currency_id.id,
            "journal_id": journal.id,
            "amount": amount,
            "credit_request_id": self.id,
            **values,
        }

    def _has_pending_transaction(self):
        """A payment is clearing, within the company's pending payment window."""
        self.ensure_one()
        return any(
            tx.state == "pending" and not tx._is_pending_lapsed()
            for tx in self.sudo().transaction_ids
        )

    def _get_report_base_filename(self):
        self.ensure_one()
        return f"Credit Request {self.name}".replace("/", "_")

    # === BUSINESS METHODS - REFUNDS === #

    def _get_amount_refunded(self):
        """What was paid back on this request: offline refunds and refunds
        through the provider, in the request's currency."""
        self.ensure_one()
        currency = self.currency_id
        offline = self.env["account.payment"].search(
            [
                ("icp_refunded_request_id", "=", self.id),
                ("state", "in", POSTED_PAYMENT_STATES),
            ]
        )
        total = sum(
            pay.currency_id._convert(pay.amount, currency, self.company_id, pay.date)
            for pay in offline
        )
        refunds = self.sudo().transaction_ids.child_transaction_ids.filtered(
            lambda tx: tx.operation == "refund" and tx.state == "done"
        )
        total += sum(
            tx.currency_id._convert(
                -tx.amount, currency, self.company_id, tx.create_date
            )
            for tx in refunds
        )
        return currency.round(total)

    # === BUSINESS METHODS - AUTO-CHARGE === #

    @api.model
    def _cron_auto_charge(self, limit=AUTO_CHARGE_BATCH, post_process=False):
        """Charge the credit requests whose automatic charge is due, one by
        one, committing after each when run by the scheduler.

        The accounting of the successful charges (payments, postings, receipts)
        is left to Odoo's payment post-processing (``payment.cron_post_process_
        payment_tx``), which does it in batches (``payment.transaction._cron_
        post_process``), as for payments confirmed by webhooks: this loop only
        charges. Until then a charge counts as money on its way, so the request
        is never charged twice. The post-processing is triggered with the run's
        first charge, then with each ``AUTO_CHARGE_TRIGGER_EVERY`` more, and
        with the last one, each trigger committed with its charge: another cron
        worker books those while this one waits on the provider for the next
        charges (a charge is committed before it is booked: the two never take
        the same transaction or request).

        One commit per charge, on purpose: a charge Stripe made is only known
        to Odoo once committed. A crash between the Stripe call and the commit
        is rolled back, and the next run makes the same transaction reference,
        hence the same Idempotency-Key, and Stripe answers with the first
        charge. That holds only while the request is unchanged (same amount)
        and within Stripe's 24 hours: committing each charge at once keeps that
        window to one charge, never a batch of them.
        """
        if not post_process:
            self = self.with_context(icp_defer_post_process=True)  # noqa: PLW0642
        # Pending payments whose window is over no longer hold requests back.
        self.env["payment.transaction"]._cron_release_lapsed_pending()
        requests = self.search(
            [
                ("state", "=", "sent"),
                ("auto_charge_next_date", "<=", fields.Datetime.now()),
            ],
            order="auto_charge_next_date, id",
            limit=limit,
        )
        in_cron = bool(self.env.context.get("ir_cron_progress_id"))
        Cron = self.env["ir.cron"]
        if in_cron:
            Cron._commit_progress(remaining=len(requests))
        post_processing = self.env.ref("payment.cron_post_process_payment_tx")
        told = False  # The post-processing triggered by this run.
        untriggered = 0  # Done charges it was not told of yet.
        last = len(requests) - 1
        for index, request in enumerate(requests):
            try:
                if in_cron:
                    # All before is committed: a failure rolls back this
                    # request's work only.
                    transactions = request._auto_charge()
                else:
                    with self.env.cr.savepoint():
                        transactions = request._auto_charge()
            except UserError as error:
                if in_cron:
                    self.env.cr.rollback()
                _logger.warning("Auto-charge of %s skipped: %s", request.name, error)
            else:
                if not post_process and "done" in transactions.mapped("state"):
                    untriggered += 1
            if untriggered and (
                not told or untriggered >= AUTO_CHARGE_TRIGGER_EVERY or index == last
            ):
                post_processing._trigger()  # Committed with this charge.
                told, untriggered = True, 0
            if in_cron:
                Cron._commit_progress(1)  # Each charge committed at once (above).
        return True

    def _schedule_auto_charge(self):
        """Charge the just-sent requests whose client chose automatic charges:
        at once, or from the scheduled action (``icp_defer_auto_charge``, e.g.
        a top-up created while posting an invoice)."""
        to_charge = self.filtered(lambda request: request._get_auto_charge_token())
        if not to_charge:
            return
        to_charge.write(
            {
                "auto_charge_next_date": fields.Datetime.now(),
                "auto_charge_attempt_count": 0,
                "auto_charge_last_error": False,
            }
        )
        if self.env.context.get("icp_defer_auto_charge"):
            self.env.ref(
                "invoice_client_pay.ir_cron_auto_charge_credit_requests"
            )._trigger()
        else:
            to_charge._auto_charge()

    def _get_auto_charge_token(self):
        self.ensure_one()
        # The client's choice in the request's company only. Only these fields
        # are read: the partner's other company-dependent fields cost a query
        # of their own (pricelists...).
        names = ["auto_charge_credit_requests", "auto_charge_token_id"]
        partner = self.partner_id.sudo().with_company(self.company_id)
        partner.fetch([*names, "commercial_partner_id"])
        if partner.auto_charge_credit_requests and partner.auto_charge_token_id:
            return partner.auto_charge_token_id
        commercial = partner.commercial_partner_id
        if commercial != partner:
            commercial.fetch(names)
        if commercial.auto_charge_credit_requests:
            return commercial.auto_charge_token_id
        return self.env["payment.token"]

    def _auto_charge(self):
        """Charge each request off-session with its client's chosen method.

        Each request is locked and re-read first: two workers, or a worker and
        an accountant, never charge one request at once, and a request paid
        meanwhile is left alone.

        :return: the transactions made.
        """
        transactions = self.env["payment.transaction"]
        for request in self:
            lock_rows(request)
            request.transaction_ids._release_lapsed_pending()
            if request.state != "sent" or not request.auto_charge_next_date:
                continue
            Transaction = self.env["payment.transaction"]
            amount = Transaction._get_amount_to_charge(request)
            if request.currency_id.is_zero(amount):
                request.auto_charge_next_date = False
                continue
            token = request._get_auto_charge_token()
            if not token or not token.active:
                request._record_auto_charge_failure(
                    self.env._(
                        "the client has no usable saved payment method (removed or "
                        "expired)."
                    )
                )
                continue
            tx = Transaction.with_context(
                icp_defer_receipts=True, icp_quiet_tx_log=True
            )._charge_saved_method(
                token, amount, request.currency_id, request.partner_id, request
            )
            request._record_auto_charge_outcome(tx, amount, token)
            transactions |= tx
        return transactions

    def _record_auto_charge_outcome(self, tx, amount, token):
        """Done: nothing more to charge. On its way: wait for it. Failed: try
        again later, if any try is left."""
        self.ensure_one()
        currency = self.currency_id
        if tx.state == "done":
            self.write(
                {"auto_charge_next_date": False, "auto_charge_last_error": False}
            )
            if self.env.context.get("icp_defer_post_process"):
                return  # Its post-processing says it, with the payment.
            self.message_post(
                body=self.env._(
                    "%(amount)s charged automatically to %(method)s (%(ref)s).",
                    amount=currency.format(amount),
                    method=token.display_name,
                    ref=tx.reference,
                )
            )
        elif tx.state in ("pending", "authorized"):
            self.auto_charge_next_date = False
            self.message_post(
                body=self.env._(
                    "Automatic charge of %(amount)s to %(method)s is on its way "
                    "(%(ref)s).",
                    amount=currency.format(amount),
                    method=token.display_name,
                    ref=tx.reference,
                )
            )
        else:
            self._record_auto_charge_failure(tx.state_message or tx.state, tx)

    def _record_auto_charge_failure(self, reason, tx=None):
        """Keep the request open, tell the client (email with the secure payment
        link) and the chatter, and schedule the next try, if any is left."""
        self.ensure_one()
        company = self.company_id
        attempts = self.auto_charge_attempt_count + 1
        next_date = False
        if attempts < company.auto_charge_max_attempts:
            delay = company.auto_charge_retry_delay_hours * 2 ** (attempts - 1)
            next_date = fields.Datetime.now() + timedelta(hours=delay)
        self.write(
            {
                "auto_charge_attempt_count": attempts,
                "auto_charge_next_date": next_date,
                "auto_charge_last_error": reason,
            }
        )
        if next_date:
            retry = self.env._("Next try: %s.", fields.Datetime.to_string(next_date))
        else:
            retry = self.env._("No more automatic tries: the client must pay it.")
        self.message_post(
            body=self.env._(
                "Automatic charge %(attempt)s of %(amount)s failed%(ref)s: %(reason)s "
                "%(retry)s",
                attempt=attempts,
                amount=self.currency_id.format(self.amount_residual),
                ref=f" ({tx.reference})" if tx else "",
                reason=reason,
                retry=retry,
            )
        )
        if self.partner_id.email:
            template = self.env.ref(
                "invoice_client_pay.mail_template_auto_charge_failed",
                raise_if_not_found=False,
            )
            if template:
                self.message_post_with_source(template, subtype_xmlid="mail.mt_comment")
