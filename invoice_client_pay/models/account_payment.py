from odoo import api, fields, models

from ..utils import remembered_search

# How many runs of the receipts' scheduled action try to send a receipt.
RECEIPT_MAX_ATTEMPTS = 24


class AccountPayment(models.Model):
    """Payments of credit requests (the client's credit), offline refunds of
    credit requests, and receipts sent later by a scheduled action."""

    _inherit = "account.payment"

    credit_request_id = fields.Many2one(
        comodel_name="account.credit.request",
        index="btree_not_null",
        copy=False,
        check_company=True,
        help="The credit request this payment pays: its amount becomes the "
        "client's credit.",
    )
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
    icp_receipt_attempts = fields.Integer(
        string="Receipt Attempts",
        copy=False,
        readonly=True,
        help="How many times sending the client's receipt failed.",
    )
    icp_stripe_dispute_id = fields.Char(
        string="Stripe Dispute",
        copy=False,
        readonly=True,
        index="btree_not_null",
        help="The Stripe dispute whose money this payment moves: outbound when "
        "the client's bank took it back, inbound when the dispute was won.",
    )
    icp_dispute_transaction_id = fields.Many2one(
        comodel_name="payment.transaction",
        string="Disputed Transaction",
        copy=False,
        readonly=True,
        index="btree_not_null",
    )

    # === COMPUTE METHODS === #

    def _compute_stat_buttons_from_reconciliation(self):
        """Odoo's result (the invoices, bills and bank statement lines matched
        with these payments' entries, besides the invoices linked to them),
        read through the ORM from the matchings rather than by Odoo's two
        queries.

        Those queries join the matchings on "debit side OR credit side" of
        every item of the payments' entries, which no index serves: 3 to 4 ms
        per payment, twice for each payment that a new matching touches (once
        while the matching propagates, once for the payment's state). The
        matchings of these items, their other sides and those sides' entries
        are what the reconciliation has just read, so here they mostly come
        from the cache, and otherwise one query per table for all the
        payments. The result is Odoo's, record for record (see the tests).
        """
        Move = self.env["account.move"]
        if not self.filtered("id"):
            # As Odoo: nothing stored, nothing reconciled (not even the linked
            # invoices).
            self.reconciled_invoice_ids = False
            self.reconciled_invoices_count = 0
            self.reconciled_invoices_type = False
            self.reconciled_bill_ids = False
            self.reconciled_bills_count = 0
            self.reconciled_statement_line_ids = False
            self.reconciled_statement_lines_count = 0
            return
        sale_types = Move.get_sale_types(include_receipts=True)
        invoice_types = Move.get_invoice_types(include_receipts=True)
        receivable_types = ("asset_receivable", "liability_payable")
        for pay, pay_sudo in zip(self, self.sudo()):
            invoice_ids, bill_ids, statement_line_ids = set(), set(), set()
            outstanding_account = pay_sudo.outstanding_account_id if pay.id else None
            for line in pay_sudo.move_id.line_ids if pay.id else ():
                is_receivable = line.account_id.account_type in receivable_types
                is_outstanding = bool(outstanding_account) and (
                    line.account_id == outstanding_account
                )
                if not (is_receivable or is_outstanding):
                    continue
                for counterpart in (
                    line.matched_debit_ids.debit_move_id
                    | line.matched_credit_ids.credit_move_id
                ):
                    move_type = counterpart.move_id.move_type
                    if is_receivable and move_type in invoice_types:
                        (invoice_ids if move_type in sale_types else bill_ids).add(
                            counterpart.move_id.id
                        )
                    if is_outstanding and counterpart.statement_line_id:
                        statement_line_ids.add(counterpart.statement_line_id.id)
            linked = pay.invoice_ids
            pay.reconciled_invoice_ids = linked.filtered(
                lambda move: move.is_sale_document(True)
            ) | Move.browse(sorted(invoice_ids))
            pay.reconciled_bill_ids = linked.filtered(
                lambda move: move.is_purchase_document(True)
            ) | Move.browse(sorted(bill_ids))
            pay.reconciled_invoices_count = len(pay.reconciled_invoice_ids)
            pay.reconciled_bills_count = len(pay.reconciled_bill_ids)
            pay.reconciled_statement_line_ids = self.env[
                "account.bank.statement.line"
            ].browse(sorted(statement_line_ids))
            pay.reconciled_statement_lines_count = len(statement_line_ids)
            # As Odoo's (credit notes alone).
            move_types = set(pay.reconciled_invoice_ids.mapped("move_type"))
            pay.reconciled_invoices_type = (
                "credit_note" if move_types == {"out_refund"} else "invoice"
            )

    # === SEARCH METHODS === #

    def _search_reconciled_invoice_ids(self, operator, value):
        """In the credit application (``client_credit_apply``), the payments
        whose reconciled invoices hold the moves searched, leaving out the moves
        that no payment's reconciled invoices can hold: those are customer
        invoices, credit notes and receipts only (see
        ``_compute_stat_buttons_from_reconciliation``).

        Odoo answers with each move's own reconciled payments, whatever the
        move. While a matching paid from credit propagates, the ORM asks it for
        the payment's entry too (its payment state is to compute again), and
        Odoo's answer computes that entry's reconciled payments each time an
        invoice is paid from credit, to mark payments whose state does not
        depend on it."""
        if operator == "in" and self.env.context.get("client_credit_apply"):
            value = (
                self.env["account.move"]
                .browse(value)
                .filtered(lambda move: move.is_sale_document(include_receipts=True))
                .ids
            )
        return super()._search_reconciled_invoice_ids(operator, value)

    # === CRUD METHODS === #

    @api.model
    def search(self, domain, offset=0, limit=None, order=None):
        # Inverse searches of a matching paid from credit propagating: once each.
        return remembered_search(self, domain, offset, limit, order, super().search)

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

    # === ACTION METHODS === #

    def action_post(self):
        res = super().action_post()
        self._apply_arrived_client_credit()
        return res

    # === BUSINESS METHODS === #

    def _log_receipt_failure(self, error):
        """The receipt could not be sent: say so in the chatter (the first time,
        and when giving up), and retry at the next run until
        ``RECEIPT_MAX_ATTEMPTS``."""
        self.ensure_one()
        self.icp_receipt_attempts += 1
        give_up = self.icp_receipt_attempts >= RECEIPT_MAX_ATTEMPTS
        if give_up:
            self.icp_receipt_pending = False
            body = self.env._(
                "The client's receipt could not be sent (%(error)s) after "
                "%(count)s attempts: it will not be retried. The payment is booked.",
                error=str(error) or type(error).__name__,
                count=self.icp_receipt_attempts,
            )
        elif self.icp_receipt_attempts == 1:
            body = self.env._(
                "The client's receipt could not be sent (%(error)s): it will be "
                "retried. The payment is booked.",
                error=str(error) or type(error).__name__,
            )
        else:
            return
        self.message_post(body=body)
        if self.credit_request_id:
            self.credit_request_id.message_post(body=body)

    def _apply_arrived_client_credit(self):
        """New money that pays no invoice of its own is credit: let it pay the
        client's open invoices when the company wants that."""
        if self.env.context.get("skip_client_credit"):
            return
        self.filtered(
            lambda pay: pay.move_id.state == "posted" and not pay.invoice_ids
        )._pay_open_invoices_from_credit()

    def _pay_open_invoices_from_credit(self):
        """Let the credit of the clients who made these customer payments pay
        their open invoices (in the companies that mark invoices paid
        automatically)."""
        received = self.filtered(
            lambda pay: pay.partner_type == "customer" and pay.payment_type == "inbound"
        )
        for company, payments in received.grouped("company_id").items():
            payments.partner_id._apply_client_credit_to_open_invoices(company)
