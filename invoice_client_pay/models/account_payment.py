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
        """A payment whose journal entry has no matched item (or that has no
        entry yet) reconciles nothing: Odoo's two queries over the
        reconciliations find nothing for it, and its reconciled invoices are
        its own. The framework computes these for each payment that Odoo links
        to its new entry (one at a time: the invoices' payment state depends on
        their payments'), before and after the link, so posting a batch of
        payments ran those queries twice per payment."""
        unmatched = self.filtered(
            lambda pay: (
                pay.id
                and not pay.move_id.line_ids.matched_debit_ids
                and not pay.move_id.line_ids.matched_credit_ids
            )
        )
        for pay in unmatched:
            invoices = pay.invoice_ids
            pay.reconciled_invoice_ids = invoices.filtered(
                lambda move: move.is_sale_document(True)
            )
            pay.reconciled_bill_ids = invoices.filtered(
                lambda move: move.is_purchase_document(True)
            )
            pay.reconciled_invoices_count = len(pay.reconciled_invoice_ids)
            pay.reconciled_bills_count = len(pay.reconciled_bill_ids)
            pay.reconciled_statement_line_ids = False
            pay.reconciled_statement_lines_count = 0
            # As Odoo's (one credit note alone).
            move_types = pay.reconciled_invoice_ids.mapped("move_type")
            pay.reconciled_invoices_type = (
                "credit_note" if move_types == ["out_refund"] else "invoice"
            )
        return super(
            AccountPayment, self - unmatched
        )._compute_stat_buttons_from_reconciliation()

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
