from odoo import SUPERUSER_ID, api, fields, models
from odoo.tools import SQL


class PaymentTransaction(models.Model):
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

    # ------------------------------------------------------------
    # PRE-PROCESSING
    # ------------------------------------------------------------

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

    # ------------------------------------------------------------
    # STATE
    # ------------------------------------------------------------

    def _update_state(self, allowed_states, target_state, state_message):
        txs = super()._update_state(allowed_states, target_state, state_message)
        # Pending (bank transfer waiting, direct debit clearing), failed or
        # cancelled: the requests follow at once, without waiting for the
        # post-processing. Done waits for the payment (post-processing).
        if target_state != "done":
            txs.credit_request_ids._update_state_from_payments()
        return txs

    # ------------------------------------------------------------
    # POST-PROCESSING
    # ------------------------------------------------------------

    def _post_process(self):
        res = super()._post_process()
        for tx in self.filtered(lambda t: t.state == "cancel"):
            # account_payment cancels tx.payment_id; a transaction that paid
            # several credit requests has one payment per request.
            tx._get_linked_payments().filtered(
                lambda pay: pay.state != "canceled"
            ).action_cancel()
        (
            self.credit_request_ids | self.source_transaction_id.credit_request_ids
        )._update_state_from_payments()
        return res

    def _get_linked_payments(self):
        self.ensure_one()
        return self.env["account.payment"].search(
            [("payment_transaction_id", "=", self.id)]
        )

    def _lock_for_post_processing(self):
        """Serialize the post-processing of this transaction (redirect, webhook
        and cron may run it at the same time) and re-read it."""
        self.env.execute_query(
            SQL(
                "SELECT id FROM payment_transaction WHERE id IN %s FOR UPDATE",
                tuple(self.ids),
            )
        )
        self.invalidate_recordset(["payment_id"])

    def _create_payment(self, **extra_create_values):
        """Create the payment(s) of a done transaction, once only.

        - Invoices only: Odoo's payment, reconciled with the invoices.
        - Credit requests: one payment per request, linked to it with
          ``credit_request_id`` and NOT reconciled: it is the client's credit
          (the foundation then applies it to open invoices when the company
          marks invoices paid automatically).
        - Both (paying several at once): the invoices' part is one payment
          reconciled with them, then one payment per request. Each request gets
          at most what it still needs; anything left (a document paid meanwhile)
          stays on the client's account as credit, on the invoices' payment or
          the last request's.

        Idempotent: under a lock on the transaction, nothing is created when a
        payment of this transaction already exists.
        """
        self.ensure_one()
        self._lock_for_post_processing()
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
        requests._lock_for_payment()
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

    def _send_payment_receipts(self, payments):
        """Email the client a receipt of each payment just created."""
        template = self.env.ref(
            "invoice_client_pay.mail_template_online_payment_receipt",
            raise_if_not_found=False,
        )
        if not template:
            return
        for payment in payments.filtered(lambda pay: pay.partner_id.email):
            payment.message_post_with_source(template, subtype_xmlid="mail.mt_comment")

    def _prepare_credit_request_payment_values(self, request, amount):
        self.ensure_one()
        payment_method_line = (
            self.provider_id.journal_id.inbound_payment_method_line_ids.filtered(
                lambda line: line.payment_provider_id == self.provider_id
            )
        )
        values = {
            "amount": amount,
            "payment_type": "inbound",
            "partner_type": "customer",
            "currency_id": self.currency_id.id,
            "partner_id": request.commercial_partner_id.id,
            "journal_id": self.provider_id.journal_id.id,
            "company_id": self.provider_id.company_id.id,
            "payment_token_id": self.token_id.id,
            "payment_transaction_id": self.id,
            "memo": f"{self.reference} - {request.name}",
            "credit_request_id": request.id,
        }
        # The provider's own method line; else the journal's default one.
        if payment_method_line:
            values["payment_method_line_id"] = payment_method_line[:1].id
        return values

    # ------------------------------------------------------------
    # LOGGING
    # ------------------------------------------------------------

    def _log_message_on_linked_documents(self, message):
        res = super()._log_message_on_linked_documents(message)
        author = (
            self.env.user.partner_id
            if self.env.uid == SUPERUSER_ID
            else self.partner_id
        )
        for request in self.credit_request_ids:
            request.message_post(body=message, author_id=author.id)
        return res
