import logging
from collections import Counter, defaultdict
from datetime import timedelta

from psycopg2 import OperationalError

from odoo import SUPERUSER_ID, api, fields, http, models
from odoo.exceptions import ValidationError
from odoo.fields import Command
from odoo.tools import split_every
from odoo.tools.misc import format_date

from odoo.addons.payment import utils as payment_utils
from odoo.addons.payment_stripe import const as stripe_const

from ..utils import lock_rows

_logger = logging.getLogger(__name__)

# Transaction states whose money may still arrive: it must not be asked twice.
# A draft was started and never confirmed by the client: it promises nothing.
# A pending one counts only within the company's pending payment window.
IN_FLIGHT_STATES = ("pending", "authorized")
# How many transactions Odoo's post-processing scheduled action post-processes
# in one database transaction (one commit).
POST_PROCESS_BATCH = 100
# The partner's fields a new transaction copies (``payment.transaction.create``).
PARTNER_FIELDS_COPIED = (
    "name",
    "parent_id",
    "lang",
    "email",
    "street",
    "street2",
    "zip",
    "city",
    "state_id",
    "country_id",
    "phone",
)


class PaymentTransaction(models.Model):
    """Transactions of credit requests (alone, or with invoices when a client
    pays several at once), charges of saved payment methods from the back
    office and the auto-charge, and money going back (refunds, disputes, late
    direct-debit failures)."""

    _inherit = "payment.transaction"

    credit_request_ids = fields.Many2many(
        comodel_name="account.credit.request",
        relation="account_credit_request_transaction_rel",
        column1="transaction_id",
        column2="credit_request_id",
        string="Credit Requests",
        readonly=True,
        copy=False,
    )
    icp_disputed = fields.Boolean(
        string="Disputed",
        readonly=True,
        copy=False,
        help="The client disputed this payment with their bank (chargeback): its "
        "credit was taken back.",
    )
    icp_pending_lapsed = fields.Boolean(
        string="Pending Window Over",
        readonly=True,
        copy=False,
        help="This payment stayed pending beyond the company's pending payment "
        "window: it no longer holds back collection (said once in the chatter).",
    )

    # === BUSINESS METHODS - PRE-PROCESSING === #

    @api.model
    def _compute_reference_prefix(self, separator, **values):
        """The credit requests' numbers (after the invoices', if any) make the
        reference: it is what a bank transfer must carry."""
        command_list = values.get("credit_request_ids")
        if command_list:
            request_ids = self._fields["credit_request_ids"].convert_to_cache(
                command_list, self
            )
            requests = self.env["account.credit.request"].browse(request_ids).exists()
            if requests and len(requests) == len(request_ids):
                invoice_prefix = ""
                if values.get("invoice_ids"):
                    invoice_prefix = super()._compute_reference_prefix(
                        separator, invoice_ids=values["invoice_ids"]
                    )
                return separator.join(
                    filter(None, [invoice_prefix, *requests.mapped("name")])
                )
        return super()._compute_reference_prefix(separator, **values)

    def _get_communication(self):
        # payment_custom (wire transfer): a transfer for credit requests carries
        # the transaction reference, which is made of the documents' numbers.
        self.ensure_one()
        if self.credit_request_ids:
            return self.reference
        return super()._get_communication()

    # === BUSINESS METHODS - CHARGING A SAVED PAYMENT METHOD === #

    @api.model
    def _charge_saved_method(self, token, amount, currency, partner, documents):
        """Create a transaction for ``documents`` (invoices or credit requests)
        and charge ``token`` off-session for ``amount``.

        The reference is computed from the documents, so a request retried by
        Odoo after a serialization failure (everything rolled back) gets the
        same reference again, hence the same Stripe Idempotency-Key
        (``payment_utils.generate_idempotency_key``): the provider returns the
        first charge instead of making a second one.

        :return: the transaction, processed (done, pending or in error).
        """
        token = token.sudo()
        provider = token.provider_id
        # Read alone, not with the partner's hundred other columns: an
        # auto-charge run commits each charge, so each reads its partner anew.
        partner.sudo().fetch(PARTNER_FIELDS_COPIED)
        if documents._name == "account.move":
            link = {"invoice_ids": [Command.set(documents.ids)]}
        else:
            link = {"credit_request_ids": [Command.set(documents.ids)]}
        tx = (
            self.env["payment.transaction"]
            .sudo()
            .create(
                {
                    "provider_id": provider.id,
                    "payment_method_id": token.payment_method_id.id,
                    "reference": self.sudo()._compute_reference(provider.code, **link),
                    "amount": currency.round(amount),
                    "currency_id": currency.id,
                    "partner_id": partner.id,
                    "token_id": token.id,
                    "operation": "offline",
                    **link,
                }
            )
        )
        tx._charge_with_token()
        if tx.state == "draft":
            # Off-session, "requires_action": the bank wants the client to
            # authenticate, which only the client can do. Nothing was charged.
            tx._set_error(
                self.env._(
                    "The payment method requires authentication: the client must "
                    "pay through the payment link."
                )
            )
        if tx.state == "done" and not self.env.context.get("icp_defer_post_process"):
            # Deferred (the auto-charge's scheduled action): that action
            # triggers Odoo's post-processing once for its run.
            tx._post_process()
        return tx

    @api.model
    def _get_amount_to_charge(self, document):
        """What is still to pay on ``document`` (an invoice or a credit request),
        less the charges already on their way, in its currency."""
        currency = document.currency_id
        in_flight = document.sudo().transaction_ids._get_amount_in_flight(currency)
        return max(currency.round(document.amount_residual - in_flight), 0.0)

    def _get_amount_in_flight(self, currency):
        """What ``self`` may still bring in: charges started but not settled,
        and settled charges whose payment is not created yet."""
        total = 0.0
        for tx in self.sudo():
            if tx.operation in ("refund", "validation"):
                continue
            in_flight = (
                tx.state in IN_FLIGHT_STATES and not tx._is_pending_lapsed()
            ) or (tx.state == "done" and not tx.payment_id and not tx.is_post_processed)
            if in_flight:
                total += tx.currency_id._convert(
                    tx.amount, currency, tx.company_id, fields.Date.context_today(tx)
                )
        return currency.round(total)

    # === BUSINESS METHODS - PENDING PAYMENTS === #

    def _is_pending_lapsed(self):
        """A pending payment (a bank transfer announced, a direct debit
        clearing) older than the company's pending payment window, measured
        from its last change of state: it no longer counts as on its way."""
        self.ensure_one()
        if self.state != "pending":
            return False
        days = self.company_id.pending_payment_validity_days
        changed = self.last_state_change or self.create_date
        return bool(changed) and fields.Datetime.now() >= changed + timedelta(days=days)

    @api.model
    def _cron_release_lapsed_pending(self):
        """Release the pending payments of credit requests and invoices whose
        window is over (see ``_release_lapsed_pending``)."""
        candidates = self.sudo().search(
            [
                ("state", "=", "pending"),
                ("icp_pending_lapsed", "=", False),
                ("operation", "not in", ("refund", "validation")),
                "|",
                ("credit_request_ids", "!=", False),
                ("invoice_ids", "!=", False),
            ]
        )
        return candidates._release_lapsed_pending()

    def _release_lapsed_pending(self):
        """Say once, in the chatter of each document, that a pending payment's
        window is over, and let collection go on: its credit requests open
        again and are charged again when their client chose automatic charges.

        :return: the transactions released now.
        """
        lapsed = self.sudo().filtered(
            lambda tx: (
                not tx.icp_pending_lapsed
                and tx.operation not in ("refund", "validation")
                and tx._is_pending_lapsed()
            )
        )
        if not lapsed:
            return lapsed
        lapsed.icp_pending_lapsed = True
        for tx in lapsed:
            message = tx._get_pending_lapsed_message()
            for document in (*tx.credit_request_ids, *tx.invoice_ids):
                document.message_post(body=message)
        requests = lapsed.credit_request_ids
        requests._update_state_from_payments()
        requests.filtered(
            lambda request: (
                request.state == "sent"
                and not request.auto_charge_next_date
                and request._get_auto_charge_token()
            )
        ).write(
            {
                "auto_charge_next_date": fields.Datetime.now(),
                "auto_charge_attempt_count": 0,
                "auto_charge_last_error": False,
            }
        )
        return lapsed

    def _get_pending_lapsed_message(self):
        self.ensure_one()
        values = {
            "ref": self.reference,
            "date": format_date(self.env, self.last_state_change or self.create_date),
            "days": self.company_id.pending_payment_validity_days,
        }
        if self.provider_code == "custom":
            return self.env._(
                "The bank transfer %(ref)s announced on %(date)s has not arrived "
                "after %(days)s days; it no longer holds back collection.",
                **values,
            )
        return self.env._(
            "The payment %(ref)s pending since %(date)s has not cleared after "
            "%(days)s days; it no longer holds back collection.",
            **values,
        )

    # === BUSINESS METHODS - PROCESSING === #

    def _process(self, provider_code, payment_data):
        """Tell the Stripe webhook when processing failed: payment_stripe
        acknowledges an event whose processing raised a ValidationError, and
        such an event must not be recorded as processed (it may be sent again
        from Stripe's dashboard)."""
        try:
            return super()._process(provider_code, payment_data)
        except ValidationError:
            if http.request and provider_code == "stripe":
                http.request.icp_stripe_processing_failed = True
            raise

    def _update_state(self, allowed_states, target_state, state_message):
        txs = super()._update_state(allowed_states, target_state, state_message)
        # Pending (bank transfer waiting, direct debit clearing), failed or
        # cancelled: the requests follow at once, without waiting for the
        # post-processing. Done waits for the payment (post-processing).
        if target_state != "done":
            txs.credit_request_ids._update_state_from_payments()
        return txs

    # === BUSINESS METHODS - POST-PROCESSING === #

    def _cron_post_process(self):
        """Odoo's post-processing scheduled action, ``POST_PROCESS_BATCH``
        transactions per database transaction instead of one: the payments of
        a whole auto-charge run are created and posted together
        (``_post_process``), and committed once per batch.

        Each batch locks its transactions (in id order) and re-reads them: one
        post-processed meanwhile (the client's status page, a webhook, another
        server) is skipped. A batch that fails is rolled back and done again in
        halves, so a failing transaction holds back no other; it stays to
        post-process, and is retried by the next run, as Odoo's loop does.
        """
        txs = self
        if not txs:
            # Odoo's selection: not post-processed, changed within 4 days.
            retry_limit_date = fields.Datetime.now() - timedelta(days=4)
            txs = self.search(
                [
                    ("is_post_processed", "=", False),
                    ("last_state_change", ">=", retry_limit_date),
                ]
            )
        Cron = self.env["ir.cron"]
        if self.env.context.get("ir_cron_progress_id"):
            Cron._commit_progress(remaining=len(txs))
        for batch_ids in split_every(POST_PROCESS_BATCH, txs.ids):
            batch = self.browse(batch_ids)
            batch._post_process_isolating_failures()
            if not Cron._commit_progress(len(batch)):
                break  # Out of time: the next run goes on.

    def _post_process_isolating_failures(self):
        """Post-process these transactions together; when that fails, again in
        halves, each in a fresh database transaction (which sees what another
        worker committed meanwhile), down to the one transaction that fails: it
        is logged and left to post-process, for the next run."""
        try:
            with self.env.cr.savepoint():
                self._post_process_unprocessed()
        except OperationalError:
            if len(self) == 1:
                return  # Another worker has it (lock, serialization).
        except Exception:  # noqa: BLE001 - isolated below, then logged
            if len(self) == 1:
                _logger.exception(
                    "An error occurred while post-processing transaction %s.",
                    self.reference,
                )
                return
        else:
            return
        self.env["ir.cron"]._commit_progress()
        half = len(self) // 2
        self[:half]._post_process_isolating_failures()
        self[half:]._post_process_isolating_failures()

    def _post_process_unprocessed(self):
        """Post-process those of these transactions that are still to, once:
        locked (in id order) and re-read, so a transaction that another worker
        post-processed meanwhile is skipped."""
        lock_rows(self)
        self.filtered(lambda tx: not tx.is_post_processed)._post_process()

    def _post_process(self):
        # The transactions that only pay credit requests get their payments in
        # one go (one create and one posting per company); Odoo's loop then
        # finds them made. Their "payment posted" notes are logged in one go too.
        batched = self._create_credit_request_payments_in_batch()
        quiet = self.env.context.get("icp_quiet_tx_log")
        res = super(PaymentTransaction, self - batched)._post_process()
        super(
            PaymentTransaction, batched.with_context(icp_quiet_tx_log=True)
        )._post_process()
        if not quiet:
            batched._log_posted_payments()
        for tx in self.filtered(lambda t: t.state == "cancel"):
            tx._cancel_linked_payments()
        (
            self.credit_request_ids | self.source_transaction_id.credit_request_ids
        )._update_state_from_payments()
        refunds = self.filtered(
            lambda tx: (
                tx.state == "done"
                and tx.operation == "refund"
                and tx.source_transaction_id.credit_request_ids
            )
        )
        for tx in refunds:
            tx._apply_refund_to_credit()
        # A refund the provider failed after accepting it (Stripe's
        # charge.refund.updated): the money never left, the credit comes back.
        failed_refunds = self.filtered(
            lambda tx: tx.state == "error" and tx.operation == "refund"
        )
        for tx in failed_refunds:
            tx._take_back_money(
                self.env._(
                    "The refund %(ref)s failed at the provider: its payment was "
                    "cancelled and the client's credit is back.",
                    ref=tx.reference,
                )
            )
        return res

    def _cancel_linked_payments(self):
        """account_payment cancels ``payment_id`` of a cancelled transaction;
        one that paid several credit requests has one payment per request."""
        self.ensure_one()
        self._get_linked_payments().filtered(
            lambda pay: pay.state != "canceled"
        ).action_cancel()

    def _get_linked_payments(self):
        self.ensure_one()
        return self.env["account.payment"].search(
            [("payment_transaction_id", "=", self.id)]
        )

    def _create_payment(self, **extra_create_values):
        """Create the payment(s) of a done transaction, once only.

        - Invoices only: Odoo's payment, reconciled with the invoices.
        - Credit requests: one payment per request, linked to it with
          ``credit_request_id`` and NOT reconciled: it is the client's credit
          (which then pays open invoices when the company marks invoices paid
          automatically).
        - Both (paying several at once): the invoices' part is one payment
          reconciled with them, then one payment per request. Each request gets
          at most what it still needs; anything left (a document paid meanwhile)
          stays on the client's account as credit, on the invoices' payment or
          the last request's.

        Idempotent: under a lock on the transaction (redirect, webhook and cron
        may post-process it at the same time), nothing is created when a
        payment of this transaction already exists.
        """
        self.ensure_one()
        lock_rows(self)
        existing = self.payment_id or self._get_linked_payments()
        if existing:
            if not self.payment_id:
                self.payment_id = existing.sorted("id")[:1]
            return self.payment_id
        if self._get_credit_requests_to_pay():
            payments = self._create_credit_request_payments(**extra_create_values)
        else:
            payments = super()._create_payment(**extra_create_values)
        self._send_payment_receipts(payments)
        return self.payment_id

    def _get_credit_requests_to_pay(self):
        """The credit requests this transaction's money pays: its own, or its
        source transaction's for a partial capture (as Odoo does for invoices).
        A refund pays none."""
        self.ensure_one()
        if self.credit_request_ids:
            return self.credit_request_ids
        source = self.source_transaction_id
        if source and self.operation == source.operation:
            return source.credit_request_ids
        return self.env["account.credit.request"]

    def _create_credit_request_payments(self, **extra_create_values):
        self.ensure_one()
        lock_rows(self._get_credit_requests_to_pay())
        invoices, invoice_part, request_parts = self._split_credit_request_amount()
        currency = self.currency_id
        payments = self.env["account.payment"]
        if invoices and currency.compare_amounts(invoice_part, 0) > 0:
            payments |= super()._create_payment(
                amount=invoice_part, **extra_create_values
            )
        request_payments = self.env["account.payment"].create(
            self._prepare_credit_request_payments_values(request_parts)
        )
        request_payments.action_post()
        payments |= request_payments
        self.payment_id = payments[:1]
        return payments

    def _split_credit_request_amount(self):
        """What of this transaction's money pays its posted invoices, and each
        of its credit requests (oldest first, at most what each still needs).
        Anything left goes to the invoices' payment, or else the last request's.

        :return: (invoices, invoice part, [[request, part], ...])
        """
        self.ensure_one()
        currency = self.currency_id
        remaining = currency.round(abs(self.amount))
        invoices = self.invoice_ids
        if self.source_transaction_id and (
            self.operation == self.source_transaction_id.operation
        ):
            invoices = self.source_transaction_id.invoice_ids
        invoices = invoices.filtered(lambda inv: inv.state == "posted")
        invoice_part = 0.0
        if invoices:
            invoice_part = min(remaining, sum(invoices.mapped("amount_residual")))
        request_parts = []
        rest = currency.round(remaining - invoice_part)
        requests = self._get_credit_requests_to_pay()
        for request in requests.sorted(lambda r: (r.date, r.id)):
            part = min(rest, request.amount_residual)
            request_parts.append([request, part])
            rest = currency.round(rest - part)
        if currency.compare_amounts(rest, 0) > 0:
            if invoices:
                invoice_part = currency.round(invoice_part + rest)
            else:
                request_parts[-1][1] = currency.round(request_parts[-1][1] + rest)
        return invoices, invoice_part, request_parts

    def _create_credit_request_payments_in_batch(self):
        """Create and post together the payments of those of these done
        transactions that pay credit requests only (no invoice, no partial
        capture): one ``create`` and one posting per company, instead of one
        each. Their requests are paid and their receipts queued as one by one.

        Idempotent as ``_create_payment``: the transactions, then their
        requests, are locked once for the batch (in id order) and re-read; a
        transaction with a payment already gets none. Transactions sharing a
        request are left to ``_create_payment``, one after the other (each
        pays what the previous one left).

        :return: the transactions that have their payments now.
        """
        candidates = self.filtered(lambda tx: tx._is_credit_request_only())
        shared = Counter(
            request.id for tx in candidates for request in tx.credit_request_ids
        )
        candidates = candidates.filtered(
            lambda tx: all(shared[request.id] == 1 for request in tx.credit_request_ids)
        )
        if not candidates:
            return candidates
        lock_rows(candidates)
        candidates = candidates.filtered(lambda tx: tx._is_credit_request_only())
        existing = self.env["account.payment"].search(
            [("payment_transaction_id", "in", candidates.ids)], order="id"
        )
        for tx, payments in existing.grouped("payment_transaction_id").items():
            tx.payment_id = payments[:1]
        to_pay = candidates - existing.payment_transaction_id
        lock_rows(to_pay.credit_request_ids)
        payments = self.env["account.payment"]
        for company, company_txs in to_pay.grouped("company_id").items():
            vals_list, payers = [], []
            for tx in company_txs:
                __, __, request_parts = tx._split_credit_request_amount()
                tx_vals_list = tx._prepare_credit_request_payments_values(request_parts)
                vals_list += tx_vals_list
                payers += [tx] * len(tx_vals_list)
            company_payments = (
                self.env["account.payment"].with_company(company).create(vals_list)
            )
            company_payments.action_post()
            for tx, payment in zip(payers, company_payments, strict=True):
                if not tx.payment_id:
                    tx.payment_id = payment
            payments |= company_payments
        self._send_payment_receipts(payments)
        return candidates

    def _is_credit_request_only(self):
        """A done transaction paying credit requests only, whose payments are
        still to make: what ``_create_credit_request_payments_in_batch`` does."""
        self.ensure_one()
        return (
            self.state == "done"
            and self.operation not in ("validation", "refund")
            and not self.payment_id
            and bool(self.credit_request_ids)
            and not self.invoice_ids
            and not self.source_transaction_id
            and not any(
                child.state in ("done", "cancel")
                for child in self.child_transaction_ids
            )
        )

    def _log_posted_payments(self):
        """Odoo's "payment posted" note (account_payment's post-processing) of
        each transaction, on its credit requests, all logged at once."""
        bodies_by_author = defaultdict(dict)
        for tx in self.filtered("payment_id"):
            author = (
                self.env.user.partner_id
                if self.env.uid == SUPERUSER_ID
                else tx.partner_id
            )
            body = self.env._(
                "The payment related to transaction %(ref)s has been posted: %(link)s",
                ref=tx._get_html_link(),
                link=tx.payment_id._get_html_link(),
            )
            for request in tx.credit_request_ids:
                bodies_by_author[author.id][request.id] = body
        for author_id, bodies in bodies_by_author.items():
            self.env["account.credit.request"].browse(bodies)._message_log_batch(
                bodies, author_id=author_id
            )

    def _prepare_credit_request_payments_values(self, request_parts):
        """The values of this transaction's payments of ``request_parts``
        (``[[request, amount], ...]``), one per request with something to pay."""
        self.ensure_one()
        return [
            self._prepare_credit_request_payment_values(request, part)
            for request, part in request_parts
            if self.currency_id.compare_amounts(part, 0) > 0
        ]

    def _prepare_credit_request_payment_values(self, request, amount):
        self.ensure_one()
        values = {
            "currency_id": self.currency_id.id,
            "company_id": self.provider_id.company_id.id,
            "payment_token_id": self.token_id.id,
            "payment_transaction_id": self.id,
            "memo": f"{self.reference} - {request.name}",
        }
        # The provider's own method line; else the journal's default one.
        payment_method_line = (
            self.provider_id.journal_id.inbound_payment_method_line_ids.filtered(
                lambda line: line.payment_provider_id == self.provider_id
            )
        )
        if payment_method_line:
            values["payment_method_line_id"] = payment_method_line[:1].id
        return request._prepare_payment_values(
            amount, self.provider_id.journal_id, **values
        )

    def _send_payment_receipts(self, payments):
        """Queue the client's receipt of each payment just created.

        Booking the money never waits on an email or a PDF: the receipt (a PDF
        each) is sent by a scheduled action of its own, triggered now, so it
        runs once the payment is committed. A receipt that fails is retried
        there, never raised here.
        """
        if not payments:
            return
        payments.sudo().icp_receipt_pending = True
        self.env.ref("invoice_client_pay.ir_cron_send_payment_receipts")._trigger()

    @api.model
    def _cron_send_payment_receipts(self, limit=500):
        """Send the queued receipts, each on its own: one that fails (the PDF
        renderer down, a report error) is written in the chatter and left
        queued for the next run, up to ``RECEIPT_MAX_ATTEMPTS`` runs."""
        payments = self.env["account.payment"].search(
            [("icp_receipt_pending", "=", True)], limit=limit, order="id"
        )
        in_cron = bool(self.env.context.get("ir_cron_progress_id"))
        for payment in payments:
            try:
                with self.env.cr.savepoint():
                    payment.payment_transaction_id._send_payment_receipt(payment)
                    payment.icp_receipt_pending = False
            except Exception as error:  # noqa: BLE001 - any failure is retried
                _logger.warning(
                    "Receipt of payment %s not sent.", payment.id, exc_info=True
                )
                payment._log_receipt_failure(error)
            if in_cron:
                self.env["ir.cron"]._commit_progress(1)
        return True

    def _send_payment_receipt(self, payment):
        template = self.env.ref(
            "invoice_client_pay.mail_template_online_payment_receipt",
            raise_if_not_found=False,
        )
        if template and payment.partner_id.email:
            payment.message_post_with_source(template, subtype_xmlid="mail.mt_comment")

    # === BUSINESS METHODS - MONEY GOING BACK === #

    def _apply_refund_to_credit(self):
        """A refund of a credit request's payment lowers the client's credit:
        its receivable debit is matched with the client's credit, the refunded
        payment's first. Idempotent (matched lines are left alone)."""
        self.ensure_one()
        refund_payments = self._get_linked_payments() | self.payment_id
        debits = refund_payments.move_id.line_ids._filter_open_receivable("debit")
        if not debits:
            return
        source_payments = self.source_transaction_id._get_linked_payments()
        source_credits = source_payments.move_id.line_ids._filter_open_receivable(
            "credit"
        )
        debits._reconcile_refund_with_client_credit(source_credits)
        for request in self.source_transaction_id.credit_request_ids:
            request.message_post(
                body=self.env._(
                    "%(amount)s refunded through %(provider)s (%(ref)s): the client's "
                    "credit is lower by as much.",
                    amount=self.currency_id.format(-self.amount),
                    provider=self.provider_id.name,
                    ref=self.reference,
                )
            )

    def _take_back_money(self, reason):
        """The money of these done transactions did not stay with us (dispute,
        direct debit failed after it was accepted): cancel their payments, so
        the credit they gave is gone and what they paid is open again.

        Idempotent: cancelled payments are left alone.
        """
        for tx in self.sudo():
            payments = (tx._get_linked_payments() | tx.payment_id).filtered(
                lambda pay: pay.state not in ("canceled", "rejected")
            )
            for payment in payments:
                # Back to draft unmatches the entry (what its credit paid is open
                # again), then the payment is cancelled.
                if payment.state != "draft":
                    payment.action_draft()
                payment.action_cancel()
            tx.credit_request_ids._update_state_from_payments()
            if payments:
                tx._log_message_on_linked_documents(reason)
        return True

    def _process_dispute(self, dispute):
        """A chargeback: the disputed amount (all or part of the payment) goes
        back to the client's bank, so it is no longer the client's credit.

        It is booked as Odoo books money paid back: an outbound customer payment
        of the disputed amount, matched with the client's credit (this
        payment's first). Credit already spent stays spent: the client then owes
        the disputed amount. The client is flagged. Idempotent per dispute.

        :param dict dispute: Stripe's Dispute object.
        :return: the outbound payment, or None when nothing was done.
        """
        self.ensure_one()
        lock_rows(self)
        dispute_id = self._get_dispute_id(dispute)
        if self.state != "done" or self._get_dispute_payments(dispute_id, "outbound"):
            return None
        amount = self._get_dispute_amount(dispute)
        if self.currency_id.compare_amounts(amount, 0) <= 0:
            return None
        payment = self._create_dispute_payment(dispute_id, "outbound", amount)
        debits = payment.move_id.line_ids._filter_open_receivable("debit")
        source_credits = (
            self._get_linked_payments() | self.payment_id
        ).move_id.line_ids._filter_open_receivable("credit")
        debits._reconcile_refund_with_client_credit(source_credits)
        self.icp_disputed = True
        partner = self.partner_id.commercial_partner_id.sudo()
        partner.icp_payment_disputed = True
        message = self.env._(
            "Payment %(ref)s: the client disputed %(amount)s with their bank "
            "(Stripe dispute %(dispute)s, reason: %(reason)s). That amount was "
            "taken back from the client's credit: %(payment)s.",
            ref=self.reference,
            amount=self.currency_id.format(amount),
            dispute=dispute_id,
            reason=str(dispute.get("reason") or "?"),
            payment=payment._get_html_link(),
        )
        self._log_message_on_linked_documents(message)
        partner.message_post(body=message)
        return payment

    def _process_dispute_won(self, dispute):
        """A dispute closed in our favour (``charge.dispute.closed`` with status
        ``won``, or ``charge.dispute.funds_reinstated``): the money the dispute
        took is back, and so is the client's credit, as an inbound payment of
        that amount (which then pays open invoices like any arriving credit).
        Idempotent per dispute: the two events of one dispute give it back once.

        :param dict dispute: Stripe's Dispute object.
        :return: the inbound payment, or None when nothing was done.
        """
        self.ensure_one()
        lock_rows(self)
        dispute_id = self._get_dispute_id(dispute)
        withdrawals = self._get_dispute_payments(dispute_id, "outbound")
        if not withdrawals or self._get_dispute_payments(dispute_id, "inbound"):
            return None
        amount = self.currency_id.round(sum(withdrawals.mapped("amount")))
        payment = self._create_dispute_payment(dispute_id, "inbound", amount)
        self.icp_disputed = bool(self._get_open_dispute_ids(self.id))
        partner = self.partner_id.commercial_partner_id.sudo()
        if not self._get_open_dispute_ids(False, partner):
            partner.icp_payment_disputed = False
        message = self.env._(
            "Payment %(ref)s: Stripe dispute %(dispute)s was won and %(amount)s "
            "reinstated. The client's credit is back: %(payment)s.",
            ref=self.reference,
            amount=self.currency_id.format(amount),
            dispute=dispute_id,
            payment=payment._get_html_link(),
        )
        self._log_message_on_linked_documents(message)
        partner.message_post(body=message)
        return payment

    def _get_dispute_id(self, dispute):
        self.ensure_one()
        dispute_id = dispute.get("id")
        return dispute_id if isinstance(dispute_id, str) else f"{self.reference}"

    def _get_dispute_amount(self, dispute):
        """The disputed amount in the transaction's currency: the dispute's
        amount (all of the payment when Stripe gives none), at most what is not
        disputed yet."""
        self.ensure_one()
        currency = self.currency_id
        amount = currency.round(self.amount)
        minor = dispute.get("amount")
        if isinstance(minor, int) and not isinstance(minor, bool) and minor > 0:
            amount = min(
                amount,
                payment_utils.to_major_currency_units(
                    minor,
                    currency,
                    arbitrary_decimal_number=stripe_const.CURRENCY_DECIMALS.get(
                        currency.name
                    ),
                ),
            )
        already = self._get_dispute_payments(None, "outbound")
        won = self._get_dispute_payments(None, "inbound")
        disputed = sum(already.mapped("amount")) - sum(won.mapped("amount"))
        return max(currency.round(min(amount, self.amount - disputed)), 0.0)

    def _get_dispute_payments(self, dispute_id, payment_type):
        """The posted payments booked for this transaction's disputes (all of
        them when ``dispute_id`` is None)."""
        self.ensure_one()
        domain = [
            ("icp_dispute_transaction_id", "=", self.id),
            ("payment_type", "=", payment_type),
            ("state", "not in", ("draft", "canceled", "rejected")),
        ]
        if dispute_id is not None:
            domain.append(("icp_stripe_dispute_id", "=", dispute_id))
        return self.env["account.payment"].sudo().search(domain)

    def _get_open_dispute_ids(self, transaction_id, partner=None):
        """The disputes whose money was taken and not reinstated, of one
        transaction (``transaction_id``) or of a client (``partner``)."""
        domain = [
            ("icp_stripe_dispute_id", "!=", False),
            ("state", "not in", ("draft", "canceled", "rejected")),
        ]
        if transaction_id:
            domain.append(("icp_dispute_transaction_id", "=", transaction_id))
        else:
            domain.append(("partner_id", "=", partner.id))
        payments = self.env["account.payment"].sudo().search(domain)
        taken = payments.filtered(lambda pay: pay.payment_type == "outbound")
        back = payments - taken
        return set(taken.mapped("icp_stripe_dispute_id")) - set(
            back.mapped("icp_stripe_dispute_id")
        )

    def _create_dispute_payment(self, dispute_id, payment_type, amount):
        """Post the payment moving a dispute's money: ``outbound`` when the bank
        takes it, ``inbound`` when it is reinstated."""
        self.ensure_one()
        journal = self.provider_id.journal_id
        if payment_type == "outbound":
            memo = self.env._(
                "Dispute %(dispute)s of %(ref)s", dispute=dispute_id, ref=self.reference
            )
        else:
            memo = self.env._(
                "Dispute %(dispute)s of %(ref)s won",
                dispute=dispute_id,
                ref=self.reference,
            )
        values = {
            "payment_type": payment_type,
            "partner_type": "customer",
            "partner_id": self.partner_id.commercial_partner_id.id,
            "company_id": self.company_id.id,
            "currency_id": self.currency_id.id,
            "journal_id": journal.id,
            "amount": amount,
            "memo": memo,
            "icp_stripe_dispute_id": dispute_id,
            "icp_dispute_transaction_id": self.id,
        }
        method_lines = journal._get_available_payment_method_lines(payment_type)
        if method_lines:
            values["payment_method_line_id"] = method_lines[:1].id
        # Posting an inbound one lets the credit pay open invoices, like any
        # arriving credit.
        payment = (
            self.env["account.payment"]
            .sudo()
            .with_context(force_payment_move=True)
            .create(values)
        )
        payment.action_post()
        return payment

    def _process_late_failure(self, message):
        """A direct debit failed after it was accepted: the transaction goes to
        error, its payment is cancelled, what it paid reopens. Idempotent."""
        self.ensure_one()
        if self.state == "error":
            return False
        if self.state != "done":
            self._set_error(message)
            return True
        self._set_error(message, extra_allowed_states=("done",))
        self._take_back_money(
            self.env._(
                "The direct debit of %(ref)s failed after it was accepted: %(msg)s. "
                "Its payment was cancelled.",
                ref=self.reference,
                msg=message,
            )
        )
        return True

    # === LOGGING HELPERS === #

    def _log_sent_message(self):
        # Quiet (the auto-charge): the message would not be logged anyway.
        if self.env.context.get("icp_quiet_tx_log"):
            return None
        return super()._log_sent_message()

    def _log_received_message(self):
        if self.env.context.get("icp_quiet_tx_log"):
            return None
        return super()._log_received_message()

    def _log_message_on_linked_documents(self, message):
        # The auto-charge writes one message of its own per charge (what was
        # charged, to which method, or why it failed): the framework's
        # "sent" / "received" notes would only repeat it.
        if self.env.context.get("icp_quiet_tx_log"):
            return None
        res = super()._log_message_on_linked_documents(message)
        author = (
            self.env.user.partner_id
            if self.env.uid == SUPERUSER_ID
            else self.partner_id
        )
        for request in self.credit_request_ids:
            request.message_post(body=message, author_id=author.id)
        return res
