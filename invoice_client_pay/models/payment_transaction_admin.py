# One file per feature (the team splits the work by file): the classes that
# inherit the same model are not merged on purpose.
# pylint: disable=consider-merging-classes-inherited
from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.fields import Command

# Transaction states whose money may still arrive: it must not be asked twice.
IN_FLIGHT_STATES = ("draft", "pending", "authorized")


class PaymentTransaction(models.Model):
    """Back-office side of transactions: charging a saved payment method from
    the Take Payment wizard and the auto-charge, and money going back
    (disputes, late direct-debit failures)."""

    _inherit = "payment.transaction"

    icp_disputed = fields.Boolean(
        string="Disputed",
        readonly=True,
        copy=False,
        help="The client disputed this payment with their bank (chargeback): its "
        "credit was taken back.",
    )

    # ------------------------------------------------------------
    # BUSINESS: charging a saved payment method
    # ------------------------------------------------------------

    @api.model
    def _icp_charge_token(self, token, amount, currency, partner, documents):
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

    def _icp_amount_in_flight(self, currency):
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

    # ------------------------------------------------------------
    # POST-PROCESSING
    # ------------------------------------------------------------

    def _post_process(self):
        res = super()._post_process()
        refunds = self.filtered(
            lambda tx: (
                tx.state == "done"
                and tx.operation == "refund"
                and tx.source_transaction_id.credit_request_ids
            )
        )
        for tx in refunds:
            tx._icp_apply_refund_to_credit()
        # A refund the provider failed after accepting it (Stripe's
        # charge.refund.updated): the money never left, the credit comes back.
        failed_refunds = self.filtered(
            lambda tx: tx.state == "error" and tx.operation == "refund"
        )
        for tx in failed_refunds:
            tx._icp_take_back_money(
                self.env._(
                    "The refund %(ref)s failed at the provider: its payment was "
                    "cancelled and the client's credit is back.",
                    ref=tx.reference,
                )
            )
        return res

    def _log_message_on_linked_documents(self, message):
        # The auto-charge writes one message of its own per charge (what was
        # charged, to which method, or why it failed): the framework's
        # "sent" / "received" notes would only repeat it.
        if self.env.context.get("icp_quiet_tx_log"):
            return None
        return super()._log_message_on_linked_documents(message)

    def _send_payment_receipts(self, payments):
        """Charges made in bulk (auto-charge) leave their receipts (a PDF each)
        to a scheduled action of their own: charging does not wait on them."""
        if self.env.context.get("icp_defer_receipts"):
            payments.sudo().icp_receipt_pending = True
            self.env.ref("invoice_client_pay.ir_cron_send_payment_receipts")._trigger()
            return None
        return super()._send_payment_receipts(payments)

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

    # ------------------------------------------------------------
    # BUSINESS: money going back
    # ------------------------------------------------------------

    def _icp_apply_refund_to_credit(self):
        """A refund of a credit request's payment lowers the client's credit:
        its receivable debit is matched with the client's credit, the refunded
        payment's first. Idempotent (matched lines are left alone)."""
        self.ensure_one()
        refund_payments = self._get_linked_payments() | self.payment_id
        debits = refund_payments.move_id.line_ids.filtered(
            lambda line: (
                line.account_type == "asset_receivable"
                and not line.reconciled
                and line.amount_residual > 0
            )
        )
        if not debits:
            return
        source_payments = self.source_transaction_id._get_linked_payments()
        source_lines = source_payments.move_id.line_ids.filtered(
            lambda line: (
                line.account_type == "asset_receivable"
                and not line.reconciled
                and line.amount_residual < 0
            )
        )
        debits.move_id.company_id.ensure_one()
        debits[:1].partner_id.commercial_partner_id._icp_match_refund(
            debits, source_lines
        )
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

    def _icp_take_back_money(self, reason):
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

    def _icp_process_dispute(self, dispute):
        """A chargeback: take the credit back and flag the client. Idempotent."""
        self.ensure_one()
        if self.icp_disputed:
            return False
        self.icp_disputed = True
        partner = self.partner_id.commercial_partner_id
        partner.sudo().icp_payment_disputed = True
        amount = self.currency_id.format(self.amount)
        self._icp_take_back_money(
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

    def _icp_process_late_failure(self, message):
        """A direct debit failed after it was accepted: the transaction goes to
        error, its payment is cancelled, what it paid reopens. Idempotent."""
        self.ensure_one()
        if self.state == "error":
            return False
        if self.state != "done":
            self._set_error(message)
            return True
        self._set_error(message, extra_allowed_states=("done",))
        self._icp_take_back_money(
            self.env._(
                "The direct debit of %(ref)s failed after it was accepted: %(msg)s. "
                "Its payment was cancelled.",
                ref=self.reference,
                msg=message,
            )
        )
        return True

    def _icp_check_refund_amount(self, amount, allow_negative=False):
        """Refuse a refund that takes more than the client's credit left, unless
        the accountant confirms a negative balance."""
        self.ensure_one()
        if not self.env["account.move"]._is_client_credit_accountant():
            raise UserError(self.env._("Only accounting users can refund a payment."))
        if allow_negative or not self.credit_request_ids:
            return
        partner = self.partner_id.commercial_partner_id.with_company(self.company_id)
        partner.invalidate_recordset(["client_credit_balance"])  # Read it now.
        balance = partner.client_credit_balance
        company_currency = self.company_id.currency_id
        amount_company = self.currency_id._convert(
            amount, company_currency, self.company_id, fields.Date.context_today(self)
        )
        if company_currency.compare_amounts(amount_company, balance) > 0:
            raise UserError(
                self.env._(
                    "You cannot refund %(amount)s: %(client)s only has %(credit)s of "
                    "credit left. Confirm a negative balance to refund anyway.",
                    amount=self.currency_id.format(amount),
                    client=partner.display_name,
                    credit=company_currency.format(balance),
                )
            )


class AccountPayment(models.Model):
    _inherit = "account.payment"

    icp_refunded_request_id = fields.Many2one(
        comodel_name="account.credit.request",
        string="Refund of Credit Request",
        index="btree_not_null",
        copy=False,
        readonly=True,
        help="This outgoing payment refunds (offline) part of that credit request.",
    )
    icp_receipt_pending = fields.Boolean(
        string="Receipt to Send",
        copy=False,
        index="btree_not_null",
        help="The client's receipt of this payment is sent by a scheduled action.",
    )
