from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError

from ..utils import lock_rows, remembered_search


class AccountMove(models.Model):
    """Customer invoices paid from the client's credit (automatically when
    posted, or with Pay From Credit), paid through Take Payment, and reached
    through signed payment links."""

    _name = "account.move"
    # The payment link mixin comes first: its portal-link overrides must run
    # before portal.mixin's, which account.move already inherits (see the mixin).
    _inherit = ["invoice_client_pay.payment.link.mixin", "account.move"]

    amount_paid_from_credit = fields.Monetary(
        string="Paid From Credit",
        compute="_compute_amount_paid_from_credit",
        help="Part of this invoice paid from the client's credit balance.",
    )
    client_credit_available = fields.Monetary(
        string="Client Credit",
        currency_field="company_currency_id",
        compute="_compute_client_credit_available",
        help="The client's credit balance in this invoice's company.",
    )
    show_pay_from_credit = fields.Boolean(compute="_compute_client_credit_available")
    is_client_payable = fields.Boolean(
        string="Payable by the Client",
        compute="_compute_is_client_payable",
        help="A posted customer invoice with something still to pay, not blocked.",
    )

    # === COMPUTE METHODS === #

    @api.depends(
        "line_ids.matched_credit_ids.client_credit_applied",
        "line_ids.matched_credit_ids.debit_amount_currency",
    )
    def _compute_amount_paid_from_credit(self):
        for move in self:
            partials = move.line_ids.matched_credit_ids.filtered(
                "client_credit_applied"
            )
            move.amount_paid_from_credit = sum(partials.mapped("debit_amount_currency"))

    def _compute_reconciled_payment_ids(self):
        """Odoo's result (the payments whose receivable or payable items are
        matched with these moves' items, and the payments linked to them), read
        one table at a time.

        Odoo reads it in one SQL join on "a matching's debit side OR its credit
        side". In a fresh database, statistics say the accounting tables are
        empty until autovacuum analyzes them, and a batch of invoices posted and
        paid from credit in one transaction is invisible to autovacuum: the
        planner then runs that join as nested loops rescanning whole tables,
        and 500 invoices take minutes. Reading the items, their matchings and
        the payments of the matched moves by their indexed columns, each a
        query on one table, costs the same whatever the planner believes, and
        mostly hits the cache the reconciliation just filled.
        """
        receivable_types = ("asset_receivable", "liability_payable")
        counterparts = {}
        for move in self:
            for line in move.line_ids:
                for partial in line.matched_debit_ids:
                    counterparts.setdefault(move, []).append(partial.debit_move_id)
                for partial in line.matched_credit_ids:
                    counterparts.setdefault(move, []).append(partial.credit_move_id)
        matched_lines = self.env["account.move.line"].union(
            *(line for lines in counterparts.values() for line in lines)
        )
        # The payments of the matched moves: their one2many, which the
        # propagation of a new matching has just read (and cached) itself.
        payments_by_move = {
            move.id: move.payment_ids.ids for move in matched_lines.move_id.sudo()
        }
        payments = self.env["account.payment"]
        for move in self:
            payment_ids = {
                payment_id
                for line in counterparts.get(move, ())
                if line.account_id.account_type in receivable_types
                for payment_id in payments_by_move[line.move_id.id]
            }
            move.reconciled_payment_ids = (
                payments.browse(sorted(payment_ids)) | move.matched_payment_ids
            )

    def _compute_payment_state(self):
        """In the credit application (``client_credit_apply``), Odoo's result
        with the matchings read through the ORM rather than by Odoo's query.

        Odoo reads each item's matchings, their other sides, those sides'
        entries and payments in one SQL union of two six-table joins, which
        PostgreSQL plans anew at each call: about 1.5 ms of planning for 0.2 ms
        of execution, paid each time an invoice is paid from credit. The
        reconciliation has just read and made those matchings, so they are in
        the cache. Everywhere else, Odoo's own computation runs.

        The decision below is Odoo's, line for line (``account.move``, 19.0);
        a test compares both on every kind of document and payment state.
        """
        if not self.env.context.get("client_credit_apply"):
            return super()._compute_payment_state()

        def _invoice_qualifies(move):
            currency = (
                move.currency_id
                or move.company_id.currency_id
                or self.env.company.currency_id
            )
            return move.is_invoice(True) and (
                move.state == "posted"
                or (move.state == "draft" and not currency.is_zero(move.amount_total))
            )

        groups = self.grouped(
            lambda move: (
                "legacy"
                if move.payment_state == "invoicing_legacy"
                else "blocked"
                if move.payment_state == "blocked"
                else "invoices"
                if _invoice_qualifies(move)
                else "unpaid"
            )
        )
        groups.get("unpaid", self.browse()).payment_state = "not_paid"
        invoices = groups.get("invoices", self.browse())
        payment_data = invoices._read_payment_state_matchings()

        for invoice in invoices:
            currency = (
                invoice.currency_id
                or invoice.company_id.currency_id
                or self.env.company.currency_id
            )
            reconciliation_vals = payment_data.get(invoice.id, [])
            new_pmt_state = "not_paid"
            if currency.is_zero(invoice.amount_residual):
                if any(
                    x["has_payment"] or x["has_st_line"] for x in reconciliation_vals
                ):
                    if all(x["all_payments_matched"] for x in reconciliation_vals):
                        new_pmt_state = "paid"
                    else:
                        new_pmt_state = invoice._get_invoice_in_payment_state()
                else:
                    new_pmt_state = "paid"
                    reverse_move_types = {
                        move_type
                        for x in reconciliation_vals
                        for move_type in x["counterpart_move_types"]
                    }
                    in_reverse = invoice.move_type in ("in_invoice", "in_receipt") and (
                        reverse_move_types in ({"in_refund"}, {"in_refund", "entry"})
                    )
                    out_reverse = invoice.move_type in (
                        "out_invoice",
                        "out_receipt",
                    ) and (
                        reverse_move_types in ({"out_refund"}, {"out_refund", "entry"})
                    )
                    misc_reverse = invoice.move_type in (
                        "entry",
                        "out_refund",
                        "in_refund",
                    ) and reverse_move_types == {"entry"}
                    if in_reverse or out_reverse or misc_reverse:
                        new_pmt_state = "reversed"
            elif invoice.state == "posted" and invoice.matched_payment_ids.filtered(
                lambda p: not p.move_id and p.state == "in_process"
            ):
                new_pmt_state = invoice._get_invoice_in_payment_state()
            elif reconciliation_vals:
                new_pmt_state = "partial"
            elif invoice.state == "posted" and invoice.matched_payment_ids.filtered(
                lambda p: not p.move_id and p.state == "paid"
            ):
                new_pmt_state = invoice._get_invoice_in_payment_state()
            invoice.payment_state = new_pmt_state

    def _read_payment_state_matchings(self):
        """What Odoo's payment-state query returns for these moves, read
        through the ORM: for each receivable or payable item of a move matched
        with items of other entries, on each side (the item as debit, the item
        as credit), the other entries' types, whether one of them is a
        payment's entry, whether all those payments are matched with the bank,
        and whether one is a bank statement line's entry. (Odoo's query also
        returns the other items, which its computation then ignores.)

        :return: {move id: [row, ...]}
        """
        payment_data = {}
        for move in self.filtered("id"):
            for line in move.line_ids:
                if line.account_id.account_type not in (
                    "asset_receivable",
                    "liability_payable",
                ):
                    continue
                for counterparts in (
                    line.matched_credit_ids.credit_move_id,
                    line.matched_debit_ids.debit_move_id,
                ):
                    entries = [
                        counterpart.move_id
                        for counterpart in counterparts
                        if counterpart.move_id != move
                    ]
                    if not entries:
                        continue
                    payments = [
                        entry.origin_payment_id
                        for entry in entries
                        if entry.origin_payment_id
                    ]
                    payment_data.setdefault(move.id, []).append(
                        {
                            "counterpart_move_types": [
                                entry.move_type for entry in entries
                            ],
                            "all_payments_matched": all(
                                payment.is_matched for payment in payments
                            ),
                            "has_payment": bool(payments),
                            "has_st_line": any(
                                entry.statement_line_id for entry in entries
                            ),
                        }
                    )
        return payment_data

    @api.depends("partner_id", "company_id", "state", "payment_state", "move_type")
    @api.depends_context("uid")
    def _compute_client_credit_available(self):
        is_accountant = self._is_client_payment_user()
        for move in self:
            credit = 0.0
            if move.partner_id and move.is_sale_document():
                credit = move.commercial_partner_id.with_company(
                    move.company_id
                ).client_credit_balance
            move.client_credit_available = credit
            move.show_pay_from_credit = bool(
                is_accountant
                and move._is_payable_from_client_credit()
                and move.company_currency_id.compare_amounts(credit, 0) > 0
            )

    @api.depends("move_type", "state", "payment_state", "amount_residual")
    def _compute_is_client_payable(self):
        for move in self:
            move.is_client_payable = move._is_client_payable()

    # === CRUD METHODS === #

    @api.model
    def search(self, domain, offset=0, limit=None, order=None):
        # Inverse searches of a matching paid from credit propagating: once each.
        return remembered_search(self, domain, offset, limit, order, super().search)

    def _post(self, soft=True):
        posted = super()._post(soft=soft)
        posted._apply_client_credit_on_post()
        posted._top_up_clients_low_credit()
        return posted

    def _track_prepare(self, fields_iter):
        """Register the tracking of invoices reached through journal items from
        an environment without those items' search in its context.

        Every search of journal items returns them in an environment of its own
        (``domain_cumulated_balance``, for their running balance in list views),
        and so are the invoices reached through them. The tracking registers a
        commit hook bound to the invoices it tracks, which keeps that one-off
        environment alive until the commit: posting N invoices in one
        transaction kept about N environments alive, and the ORM looks every
        environment it makes up among all the live ones (each monetary value it
        caches makes two), so a batch posting cost grew with N². The running
        balance is no concern of the tracking."""
        search_keys = ("domain_cumulated_balance", "order_cumulated_balance")
        context = self.env.context
        if not any(key in context for key in search_keys):
            return super()._track_prepare(fields_iter)
        context = {
            key: value for key, value in context.items() if key not in search_keys
        }
        return super(
            AccountMove, self.with_env(self.env(context=context))
        )._track_prepare(fields_iter)

    # === ACTION METHODS === #

    def action_pay_from_credit(self):
        """Open the wizard that pays this invoice from the client's credit."""
        self.ensure_one()
        self._check_payable_from_client_credit()
        return {
            "name": self.env._("Pay From Credit"),
            "type": "ir.actions.act_window",
            "res_model": "account.pay.from.credit",
            "view_mode": "form",
            "target": "new",
            "context": {"default_move_id": self.id},
        }

    def action_take_payment(self):
        """Open the Take Payment wizard: charge a saved payment method of the
        client, or record cash, a cheque or a bank transfer."""
        self.ensure_one()
        self.env["account.take.payment"]._check_access_take_payment()
        self._check_client_payable()
        return {
            "name": self.env._("Take Payment"),
            "type": "ir.actions.act_window",
            "res_model": "account.take.payment",
            "view_mode": "form",
            "target": "new",
            "context": {"default_move_id": self.id},
        }

    # === BUSINESS METHODS - PAYABLE INVOICES === #

    @api.model
    def _get_client_payable_domain(self):
        """The invoices a client can pay (online, from credit, or through Take
        Payment): posted customer invoices with something still to pay, whose
        payment is not blocked."""
        return [
            ("move_type", "=", "out_invoice"),
            ("state", "=", "posted"),
            ("payment_state", "not in", ("paid", "in_payment", "reversed", "blocked")),
            ("amount_residual", ">", 0),
        ]

    def _is_client_payable(self):
        self.ensure_one()
        return bool(self.filtered_domain(self._get_client_payable_domain()))

    def _check_client_payable(self):
        self.ensure_one()
        if not self._is_client_payable():
            raise UserError(
                self.env._("Invoice %s has nothing left to pay.", self.display_name)
            )

    def _is_notified_with_payment_link(self):
        return self.move_type != "entry"

    # === BUSINESS METHODS - PAYING FROM CREDIT === #

    @api.model
    def _is_client_credit_accountant(self):
        user = self.env.user
        return user.has_group("account.group_account_user") or user.has_group(
            "account.group_account_manager"
        )

    @api.model
    def _is_client_payment_user(self):
        """Who may pay a document from credit or take a payment: as for Odoo's
        Register Payment and outstanding-credit "Add", billing users and
        accountants."""
        return self.env.user.has_groups(
            "account.group_account_invoice,account.group_account_user"
        )

    def _is_payable_from_client_credit(self):
        self.ensure_one()
        return self.company_id.auto_mark_invoices_paid and self._is_client_payable()

    def _check_payable_from_client_credit(self):
        """Raise a clear error when this invoice cannot be paid from credit."""
        self.ensure_one()
        if not self._is_client_payment_user():
            raise AccessError(
                self.env._(
                    "Only billing and accounting users can pay an invoice from a "
                    "client's credit."
                )
            )
        if self.move_type != "out_invoice":
            raise UserError(
                self.env._(
                    "Only customer invoices can be paid from credit; %s is not one.",
                    self.display_name,
                )
            )
        if self.state != "posted":
            raise UserError(
                self.env._(
                    "Invoice %s must be posted to be paid from credit.",
                    self.display_name,
                )
            )
        if not self.company_id.auto_mark_invoices_paid:
            raise UserError(
                self.env._(
                    'Paying from credit is off for %s: turn on "Automatically mark '
                    'Invoices paid" in the Accounting settings.',
                    self.company_id.name,
                )
            )
        self._check_client_payable()

    def _get_client_credit_lines(self):
        """The credit items that can pay this invoice: same client, company and
        receivable account."""
        self.ensure_one()
        return self._get_open_receivable_lines()._get_matching_client_credit()

    def _get_open_receivable_lines(self):
        """What the client still owes on these invoices."""
        return self.line_ids._filter_open_receivable("debit")

    def _get_client_credit_available_in_currency(self, credit_lines):
        """What ``credit_lines`` are worth in this invoice's currency."""
        self.ensure_one()
        debit = self._get_open_receivable_lines()[:1]
        if not debit:
            return 0.0
        return sum(
            line._get_client_credit_in_currency(self.currency_id, debit)
            for line in credit_lines
        )

    def _pay_from_client_credit(self, amount):
        """Pay exactly ``amount`` (invoice currency) of this invoice from credit.

        Locks the invoice's receivable items and the client's credit items and
        re-reads them first, so two accountants, or an accountant and a payment,
        can never use the same credit twice nor overpay the invoice.
        """
        self.ensure_one()
        self._check_payable_from_client_credit()
        currency = self.currency_id
        if currency.compare_amounts(amount, 0) <= 0:
            raise UserError(
                self.env._("The amount to pay from credit must be positive.")
            )
        debits = self._get_open_receivable_lines()
        credits = self._get_client_credit_lines()
        lock_rows(debits + credits)
        self.invalidate_recordset(["amount_residual", "payment_state"])
        debits = debits._filter_open_receivable("debit")
        credits = credits._filter_open_receivable("credit")
        self._check_amount_payable_from_credit(amount, debits, credits)
        debits._reconcile_client_credit_amount(credits, amount)
        self.message_post(
            body=self.env._(
                "%(amount)s paid from the client's credit.",
                amount=currency.format(amount),
            )
        )
        self._top_up_clients_low_credit()

    def _check_amount_payable_from_credit(self, amount, debits, credits):
        """Never more than is still to pay, nor than the credit."""
        self.ensure_one()
        currency = self.currency_id
        still_to_pay = sum(debits.mapped("amount_residual_currency"))
        if currency.compare_amounts(amount, still_to_pay) > 0:
            raise UserError(
                self.env._(
                    "You cannot pay %(amount)s from credit: only %(due)s is still "
                    "to pay on %(invoice)s.",
                    amount=currency.format(amount),
                    due=currency.format(still_to_pay),
                    invoice=self.display_name,
                )
            )
        available = self._get_client_credit_available_in_currency(credits)
        if currency.compare_amounts(amount, available) > 0:
            raise UserError(
                self.env._(
                    "You cannot pay %(amount)s from credit: %(client)s only has "
                    "%(credit)s of credit.",
                    amount=currency.format(amount),
                    client=self.commercial_partner_id.display_name,
                    credit=currency.format(available),
                )
            )

    def _apply_client_credit_on_post(self):
        """Pay newly posted customer invoices from their client's credit."""
        if self.env.context.get("skip_client_credit"):
            return
        invoices = self.filtered(
            lambda move: (
                move.company_id.auto_mark_invoices_paid and move._is_client_payable()
            )
        )
        # Paying from credit reads the items' state (so does Odoo's
        # reconciliation), which computes it on every item of the invoices,
        # now; their date, which posting changed too, is otherwise computed
        # later. Both at once, each item is written in one UPDATE rather than
        # two when several invoices are posted in one transaction.
        invoices.line_ids._recompute_recordset(["parent_state", "invoice_date"])
        for company_invoices in invoices.grouped("company_id").values():
            company_invoices._get_open_receivable_lines()._reconcile_with_client_credit(
                current=True
            )

    def _top_up_clients_low_credit(self):
        """Credit was used, or invoices that credit pays were posted: have the
        clients whose credit is now too low topped up. Only where credit pays
        invoices does this concern the clients' credit at all.

        Whoever posts may not see the clients' top-up settings, and the top-up
        locks the client: it runs in the top-up scheduled action's own short
        transaction, triggered here, never inside this one."""
        needs_topup = any(
            move.move_type == "out_invoice"
            and move.company_id.auto_mark_invoices_paid
            and move.commercial_partner_id.sudo()
            .with_company(move.company_id)
            .auto_topup
            for move in self
        )
        if needs_topup:
            self.env.ref("invoice_client_pay.ir_cron_auto_topup").sudo()._trigger()
