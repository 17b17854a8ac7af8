import logging
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError

_logger = logging.getLogger(__name__)

# How many due requests one run of the scheduled action takes at most.
AUTO_CHARGE_BATCH = 1000


class AccountCreditRequest(models.Model):
    _inherit = "account.credit.request"

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

    # ------------------------------------------------------------
    # ACTION
    # ------------------------------------------------------------

    def action_send(self):
        res = super().action_send()
        to_charge = self.filtered(lambda request: request._get_auto_charge_token())
        if to_charge:
            to_charge.write(
                {
                    "auto_charge_next_date": fields.Datetime.now(),
                    "auto_charge_attempt_count": 0,
                    "auto_charge_last_error": False,
                }
            )
            if self.env.context.get("icp_defer_auto_charge"):
                # Created while posting an invoice, say: charge it from the
                # scheduled action, as soon as possible, not inside this one.
                self.env.ref(
                    "invoice_client_pay.ir_cron_auto_charge_credit_requests"
                )._trigger()
            else:
                to_charge._auto_charge()
        return res

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
        self.env["account.take.payment"]._check_access_take_payment()
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

    # ------------------------------------------------------------
    # BUSINESS: refunds
    # ------------------------------------------------------------

    def _icp_amount_refunded(self):
        """What was paid back on this request: offline refunds and refunds
        through the provider, in the request's currency."""
        self.ensure_one()
        currency = self.currency_id
        offline = self.env["account.payment"].search(
            [
                ("icp_refunded_request_id", "=", self.id),
                ("state", "in", ("in_process", "paid")),
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

    # ------------------------------------------------------------
    # BUSINESS: auto-charge
    # ------------------------------------------------------------

    @api.model
    def _cron_auto_charge(self, limit=AUTO_CHARGE_BATCH, post_process=False):
        """Charge the credit requests whose automatic charge is due, one by
        one, committing after each when run by the scheduler.

        The accounting of a successful charge (payment, posting, receipt) is
        left to Odoo's payment post-processing (``payment.cron_post_process_
        payment_tx``, triggered at once), as for a payment confirmed by a
        webhook: this loop only charges. Until then the charge counts as money
        on its way, so the request is never charged twice. A crash between the
        Stripe call and the commit is rolled back: the next run makes the same
        transaction reference, hence the same Idempotency-Key, and Stripe
        answers with the first charge.
        """
        if not post_process:
            self = self.with_context(icp_defer_post_process=True)  # noqa: PLW0642
        requests = self.search(
            [
                ("state", "=", "sent"),
                ("auto_charge_next_date", "<=", fields.Datetime.now()),
            ],
            order="auto_charge_next_date, id",
            limit=limit,
        )
        in_cron = bool(self.env.context.get("ir_cron_progress_id"))
        if in_cron:
            self.env["ir.cron"]._commit_progress(remaining=len(requests))
        for request in requests:
            try:
                with self.env.cr.savepoint():
                    request._auto_charge()
            except UserError as error:
                _logger.warning("Auto-charge of %s skipped: %s", request.name, error)
            if in_cron:
                self.env["ir.cron"]._commit_progress(1)
        return True

    def _get_auto_charge_token(self):
        self.ensure_one()
        partner = self.partner_id.sudo()
        commercial = partner.commercial_partner_id
        if partner.auto_charge_credit_requests and partner.auto_charge_token_id:
            return partner.auto_charge_token_id
        if commercial.auto_charge_credit_requests:
            return commercial.auto_charge_token_id
        return self.env["payment.token"]

    def _auto_charge(self):
        """Charge each request off-session with its client's chosen method.

        Each request is locked (``FOR UPDATE``) and re-read first: two workers,
        or a worker and an accountant, never charge one request at once, and a
        request paid meanwhile is left alone.

        :return: the transactions made.
        """
        transactions = self.env["payment.transaction"]
        for request in self:
            request._lock_for_payment()
            if request.state != "sent" or not request.auto_charge_next_date:
                continue
            currency = request.currency_id
            in_flight = request.sudo().transaction_ids._icp_amount_in_flight(currency)
            amount = currency.round(request.amount_residual - in_flight)
            if currency.compare_amounts(amount, 0) <= 0:
                request.auto_charge_next_date = False
                continue
            token = request._get_auto_charge_token()
            if not token or not token.active:
                request._auto_charge_failed(
                    self.env._(
                        "the client has no usable saved payment method (removed or "
                        "expired)."
                    )
                )
                continue
            tx = (
                self.env["payment.transaction"]
                .with_context(icp_defer_receipts=True, icp_quiet_tx_log=True)
                ._icp_charge_token(token, amount, currency, request.partner_id, request)
            )
            transactions |= tx
            if tx.state == "done":
                request.write(
                    {"auto_charge_next_date": False, "auto_charge_last_error": False}
                )
                if self.env.context.get("icp_defer_post_process"):
                    continue  # Its post-processing says it, with the payment.
                request.message_post(
                    body=self.env._(
                        "%(amount)s charged automatically to %(method)s (%(ref)s).",
                        amount=currency.format(amount),
                        method=token.display_name,
                        ref=tx.reference,
                    )
                )
            elif tx.state in ("pending", "authorized"):
                request.auto_charge_next_date = False
                request.message_post(
                    body=self.env._(
                        "Automatic charge of %(amount)s to %(method)s is on its way "
                        "(%(ref)s).",
                        amount=currency.format(amount),
                        method=token.display_name,
                        ref=tx.reference,
                    )
                )
            else:
                request._auto_charge_failed(tx.state_message or tx.state, tx)
        return transactions

    def _auto_charge_failed(self, reason, tx=None):
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
                self.with_context(
                    auto_charge_failure_reason=reason
                ).message_post_with_source(template, subtype_xmlid="mail.mt_comment")
