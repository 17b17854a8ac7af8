from odoo import SUPERUSER_ID, api, fields, models
from odoo.fields import Command

from ..utils import lock_rows

# Transaction states whose money may still arrive: it must not be asked twice.
IN_FLIGHT_STATES = ("draft", "pending", "authorized")


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
        if tx.state == "done":
            if self.env.context.get("icp_defer_post_process"):
                self.env.ref("payment.cron_post_process_payment_tx")._trigger()
            else:
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
            in_flight = tx.state in IN_FLIGHT_STATES or (
                tx.state == "done" and not tx.payment_id and not tx.is_post_processed
            )
            if in_flight:
                total += tx.currency_id._convert(
                    tx.amount, currency, tx.company_id, fields.Date.context_today(tx)
                )
        return currency.round(total)

    # === BUSINESS METHODS - PROCESSING === #

    def _update_state(self, allowed_states, target_state, state_message):
        txs = super()._update_state(allowed_states, target_state, state_message)
        # Pending (bank transfer waiting, direct debit clearing), failed or
        # cancelled: the requests follow at once, without waiting for the
        # post-processing. Done waits for the payment (post-processing).
        if target_state != "done":
            txs.credit_request_ids._update_state_from_payments()
        return txs

    # === BUSINESS METHODS - POST-PROCESSING === #

    def _post_process(self):
        res = super()._post_process()
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
        requests = self._get_credit_requests_to_pay()
        lock_rows(requests)
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
        for request in requests.sorted(lambda r: (r.date, r.id)):
            part = min(rest, request.amount_residual)
            request_parts.append([request, part])
            rest = currency.round(rest - part)
        if currency.compare_amounts(rest, 0) > 0:
            if invoices:
                invoice_part = currency.round(invoice_part + rest)
            else:
                request_parts[-1][1] = currency.round(request_parts[-1][1] + rest)

        payments = self.env["account.payment"]
        if invoices and currency.compare_amounts(invoice_part, 0) > 0:
            payments |= super()._create_payment(
                amount=invoice_part, **extra_create_values
            )
        for request, part in request_parts:
            if currency.compare_amounts(part, 0) <= 0:
                continue
            payment = self.env["account.payment"].create(
                self._prepare_credit_request_payment_values(request, part)
            )
            payment.action_post()
            payments |= payment
        self.payment_id = payments[:1]
        return payments

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
        """Email the client a receipt of each payment just created.

        Charges made in bulk (auto-charge, ``icp_defer_receipts``) leave their
        receipts (a PDF each) to a scheduled action of their own: charging does
        not wait on them.
        """
        if self.env.context.get("icp_defer_receipts"):
            payments.sudo().icp_receipt_pending = True
            self.env.ref("invoice_client_pay.ir_cron_send_payment_receipts")._trigger()
            return
        template = self.env.ref(
            "invoice_client_pay.mail_template_online_payment_receipt",
            raise_if_not_found=False,
        )
        if not template:
            return
        for payment in payments.filtered(lambda pay: pay.partner_id.email):
            payment.message_post_with_source(template, subtype_xmlid="mail.mt_comment")

    @api.model
    def _cron_send_payment_receipts(self, limit=500):
        payments = self.env["account.payment"].search(
            [("icp_receipt_pending", "=", True)], limit=limit, order="id"
        )
        in_cron = bool(self.env.context.get("ir_cron_progress_id"))
        for payment in payments:
            payment.icp_receipt_pending = False
            payment.payment_transaction_id.with_context(
                icp_defer_receipts=False
            )._send_payment_receipts(payment)
            if in_cron:
                self.env["ir.cron"]._commit_progress(1)
        return True

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
        """A chargeback: take the credit back and flag the client. Idempotent."""
        self.ensure_one()
        if self.icp_disputed:
            return False
        self.icp_disputed = True
        partner = self.partner_id.commercial_partner_id
        partner.sudo().icp_payment_disputed = True
        amount = self.currency_id.format(self.amount)
        self._take_back_money(
            self.env._(
                "Payment %(ref)s (%(amount)s) was disputed by the client (Stripe "
                "dispute %(dispute)s, reason: %(reason)s): its credit was taken back.",
                ref=self.reference,
                amount=amount,
                dispute=dispute.get("id") or "?",
                reason=dispute.get("reason") or "?",
            )
        )
        partner.sudo().message_post(
            body=self.env._(
                "Client flagged: payment %(ref)s (%(amount)s) was disputed.",
                ref=self.reference,
                amount=amount,
            )
        )
        return True

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
