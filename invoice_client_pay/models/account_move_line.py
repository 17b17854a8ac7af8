from collections import defaultdict

from odoo import api, models
from odoo.tools import SQL

from ..utils import (
    fetch_one2many_in_full,
    lock_rows,
    matching_groups_remembered,
    remembered_matching_groups,
    remembered_search,
    search_locked,
)


def _oldest_first(line):
    """Sort key of matching: the earliest due date, then the earliest date."""
    return (line.date_maturity or line.date, line.date, line.id)


class AccountMoveLine(models.Model):
    """What the ledger says a client owes and has paid in advance, and the
    matchings that pay invoices from that credit."""

    _inherit = "account.move.line"

    # === COMPUTE METHODS === #

    def _compute_amount_residual(self):
        """In the credit application (``client_credit_apply``), Odoo's result
        with the amounts of the items' matchings summed through the ORM rather
        than by Odoo's query.

        The reconciliation has just read the matchings of these items (see
        ``_read_matchings_of_entries``) and made the new one, so they are in
        the cache; Odoo's query (a union of two grouped joins) would ask the
        database for them once more, each time an invoice is paid from credit.
        Everywhere else, Odoo's own computation runs.

        The computation below is Odoo's, line for line (``account.move.line``,
        19.0): each matching's amount is rounded by its currency, so the sums
        are those of the database once rounded; a test compares both on every
        kind of item.
        """
        if not self.env.context.get("client_credit_apply"):
            return super()._compute_amount_residual()
        need_residual_lines = self.filtered(
            lambda line: (
                line.account_id.reconcile
                or line.account_id.account_type
                in ("asset_cash", "liability_credit_card")
            )
        )
        for line in self - need_residual_lines:
            line.amount_residual = 0.0
            line.amount_residual_currency = 0.0
            line.reconciled = False
        for line in need_residual_lines:
            comp_curr = line.company_currency_id or self.env.company.currency_id
            foreign_curr = line.currency_id or comp_curr
            # New records (onchange) have no matchings, as in Odoo's query.
            stored = line._origin
            # This item's matchings on its debit side and on its credit side.
            as_debit = stored.matched_credit_ids if stored else ()
            as_credit = stored.matched_debit_ids if stored else ()
            debit_amount = sum(partial.amount for partial in as_debit)
            credit_amount = sum(partial.amount for partial in as_credit)
            debit_amount_currency = sum(
                partial.debit_amount_currency for partial in as_debit
            )
            credit_amount_currency = sum(
                partial.credit_amount_currency for partial in as_credit
            )
            line.amount_residual = comp_curr.round(
                line.balance - debit_amount + credit_amount
            )
            line.amount_residual_currency = foreign_curr.round(
                line.amount_currency - debit_amount_currency + credit_amount_currency
            )
            line.reconciled = comp_curr.is_zero(
                line.amount_residual
            ) and foreign_curr.is_zero(line.amount_residual_currency)

    # === CRUD METHODS === #

    @api.model
    def search(self, domain, offset=0, limit=None, order=None):
        # Inverse searches of a matching paid from credit propagating: once each.
        return remembered_search(self, domain, offset, limit, order, super().search)

    # === BUSINESS METHODS - CLIENT CREDIT === #

    @api.model
    def _get_open_receivable_domain(self, side):
        """Posted receivable items not fully matched yet: on the debit side
        (``side="debit"``) what a client still owes, on the credit side
        (``side="credit"``) their credit."""
        return [
            ("account_type", "=", "asset_receivable"),
            ("parent_state", "=", "posted"),
            ("reconciled", "=", False),
            ("amount_residual", ">" if side == "debit" else "<", 0),
        ]

    def _filter_open_receivable(self, side):
        """The items of ``self`` in ``_get_open_receivable_domain(side)``."""
        return self.filtered_domain(self._get_open_receivable_domain(side))

    @api.model
    def _get_client_credit_domain(self, commercial_partners, company):
        """The journal items that are the credit of ``commercial_partners`` (and
        their contacts) in ``company``: money on their receivable account, on
        the credit side and not yet matched. That is unmatched payments
        (credit-request payments, overpayments) and open credit notes.
        ``commercial_partners=None`` means every client.

        The one definition of credit: ``client_credit_balance`` sums these items.
        """
        return [
            ("company_id", "=", company.id),
            (
                ("partner_id.commercial_partner_id", "in", commercial_partners.ids)
                if commercial_partners is not None
                else ("partner_id", "!=", False)
            ),
            *self._get_open_receivable_domain("credit"),
        ]

    @api.model
    def _get_client_debt_domain(self, commercial_partners, company):
        """The receivable items of the clients' invoices still to pay, which
        credit arriving later pays."""
        return [
            ("company_id", "=", company.id),
            ("partner_id.commercial_partner_id", "in", commercial_partners.ids),
            *self._get_open_receivable_domain("debit"),
            ("move_id", "any", self.env["account.move"]._get_client_payable_domain()),
        ]

    @api.model
    def _read_client_credit_balances(self, commercial_partners, company):
        """Credit of many clients at once (``None``: of every client): one
        grouped query on ``_get_client_credit_domain``.

        :return: {commercial partner id: credit in company currency}
        """
        if commercial_partners is not None and not commercial_partners:
            return {}
        groups = self.sudo()._read_group(
            self._get_client_credit_domain(commercial_partners, company),
            groupby=["partner_id.commercial_partner_id"],
            aggregates=["amount_residual:sum"],
        )
        return {partner.id: -residual for partner, residual in groups}

    @api.model
    def _get_client_credit_history_domain(self, commercial_partners, company):
        """Every journal item that ever was credit of ``commercial_partners`` in
        ``company``: ``_get_client_credit_domain`` without "not yet matched".
        The items still open among them are exactly the current credit."""
        return [
            ("company_id", "=", company.id),
            ("partner_id.commercial_partner_id", "in", commercial_partners.ids),
            ("account_type", "=", "asset_receivable"),
            ("parent_state", "=", "posted"),
            ("balance", "<", 0),
        ]

    @api.model
    def _get_client_credit_movements_sql(self, commercial_partner, company):
        """The credit movements of a client, as SQL rows ``(kind, res_id, date,
        amount, seq)``, in company currency:

        - ``line``: an item that added credit (a credit request payment, an
          overpayment, a credit note), for its full amount;
        - ``partial``: a matching that used credit (an invoice paid from credit,
          a refund, a reversal), for minus the matched amount.

        Their sum is the client's credit balance (the open amount of the items).
        """
        credit_query = self.sudo()._search(
            self._get_client_credit_history_domain(commercial_partner, company)
        )
        return SQL(
            """
            WITH credit_lines AS (%(credit_lines)s),
            movements AS (
                SELECT 'line' AS kind, line.id AS res_id, line.date AS date,
                       -line.balance AS amount, 0 AS seq
                  FROM account_move_line line
                  JOIN credit_lines ON credit_lines.id = line.id
                UNION ALL
                SELECT 'partial', partial.id, partial.max_date, -partial.amount, 1
                  FROM account_partial_reconcile partial
                  JOIN credit_lines ON credit_lines.id = partial.credit_move_id
            )
            SELECT * FROM movements
            """,
            credit_lines=credit_query.select(SQL.identifier("account_move_line", "id")),
        )

    @api.model
    def _count_client_credit_movements(self, commercial_partner, company):
        """How many movements the credit statement of a client has: one query."""
        movements = self._get_client_credit_movements_sql(commercial_partner, company)
        self.env.flush_all()
        self.env.cr.execute(SQL("SELECT COUNT(*) FROM (%s) AS movements", movements))
        return self.env.cr.fetchone()[0]

    @api.model
    def _read_client_credit_statement(
        self, commercial_partner, company, offset=0, limit=None
    ):
        """A page of a client's credit statement, oldest first, with the
        running balance after each movement.

        One query whatever the number of movements: the running balance is a
        window sum over all the movements before and on the page (the page's
        opening balance and its movements), so it is right on every page.

        :return: [{"kind", "record", "date", "amount", "balance", "label"}]
            with ``record`` a journal item (credit added) or a matching (credit
            used), sudoed.
        """
        movements = self._get_client_credit_movements_sql(commercial_partner, company)
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                """
                SELECT kind, res_id, date, amount,
                       SUM(amount) OVER (ORDER BY date, seq, res_id
                                         ROWS UNBOUNDED PRECEDING) AS balance
                  FROM (%(movements)s) AS movements
              ORDER BY date, seq, res_id
                 LIMIT %(limit)s OFFSET %(offset)s
                """,
                movements=movements,
                limit=limit,
                offset=offset,
            )
        )
        fetched = self.env.cr.fetchall()
        lines = self.sudo().browse(
            [res_id for kind, res_id, *__ in fetched if kind == "line"]
        )
        partials = (
            self.env["account.partial.reconcile"]
            .sudo()
            .browse([res_id for kind, res_id, *__ in fetched if kind == "partial"])
        )
        # Records from the page's recordsets: their fields are read in batch.
        records = {("line", line.id): line for line in lines}
        records.update({("partial", partial.id): partial for partial in partials})
        currency = company.currency_id
        rows = [
            {
                "kind": kind,
                "record": records[kind, res_id],
                "date": date,
                "amount": currency.round(amount),
                "balance": currency.round(balance),
            }
            for kind, res_id, date, amount, balance in fetched
        ]
        for row in rows:
            row["label"] = self._get_client_credit_movement_label(row)
        return rows

    @api.model
    def _get_client_credit_movement_label(self, row):
        """What a statement row is, in the client's words."""
        env = self.env
        if row["kind"] == "line":
            line = row["record"]
            move = line.move_id
            credit_request = line.payment_id.credit_request_id
            if credit_request:
                return env._(
                    "Credit request %(request)s paid (%(payment)s)",
                    request=credit_request.name,
                    payment=move.name,
                )
            if move.move_type == "out_refund":
                return env._("Credit note %s", move.name)
            if line.payment_id:
                return env._("Payment %s", move.name)
            return move.name
        partial = row["record"]
        credit_move = partial.credit_move_id.move_id
        debit_move = partial.debit_move_id.move_id
        if partial.client_credit_applied:
            return env._("Invoice %s paid from credit", debit_move.name)
        if debit_move.reversed_entry_id == credit_move:
            return env._("Reversal of %s", credit_move.name)
        if debit_move.origin_payment_id.payment_type == "outbound":
            return env._("Refund %s", debit_move.name)
        if debit_move.is_invoice(include_receipts=True):
            return env._("Invoice %s paid", debit_move.name)
        return env._("Matched with %s", debit_move.name)

    def _get_client_credit_in_currency(self, currency, debit):
        """What is left of credit item ``self``, expressed in ``currency`` (the
        debit's) at the debit's own rate, so both sides of a matching agree."""
        self.ensure_one()
        if self.currency_id == currency:
            return -self.amount_residual_currency
        rate = debit._get_currency_rate()
        return currency.round(-self.amount_residual * rate)

    def _get_currency_rate(self):
        """Units of this item's currency per unit of company currency."""
        self.ensure_one()
        if self.currency_id == self.company_currency_id or not self.balance:
            return 1.0
        return abs(self.amount_currency / self.balance)

    def _get_matching_client_credit(self, lock=False):
        """The credit that can pay the debit items ``self`` (of one company):
        the credit items of their clients on their receivable accounts.
        ``lock``: locked by the search itself (see ``search_locked``)."""
        if not self:
            return self.browse()
        domain = self._get_client_credit_domain(
            self.partner_id.commercial_partner_id, self.company_id.ensure_one()
        ) + [("account_id", "in", self.account_id.ids)]
        if not lock:
            return self.search(domain)
        # Posted as their entries say: the items of the invoices being posted
        # have that state still to write, and searching on it would write it
        # now, in an UPDATE of its own rather than with their other values.
        posted = ("parent_state", "=", "posted")
        return search_locked(
            self,
            [
                ("move_id.state", "=", "posted") if condition == posted else condition
                for condition in domain
            ],
        )

    # === BUSINESS METHODS - PAYING FROM CREDIT === #

    def _reconcile_with_client_credit(self, current=False):
        """Pay the debit items ``self`` (of one company) from their clients'
        credit, oldest first.

        ``current``: ``self`` belongs to invoices this very transaction has
        just posted. No other transaction sees those items posted, and a second
        posting of the same invoices waits on the row lock of their entries,
        then fails to serialize; their cached values are current. Only the
        credit needs locking, which its search does (see ``search_locked``)."""
        credits = self._get_matching_client_credit(lock=current)
        if credits:
            (self + credits)._reconcile_client_credit(locked=current)

    def _reconcile_refund_with_client_credit(self, preferred_credits):
        """Match the debit items of a refund with the client's credit:
        ``preferred_credits`` (the refunded payment's) first, then the rest,
        oldest first. What no credit covers stays open: the client owes it (a
        negative balance).

        The debit items and all the credit are locked once, first, and re-read:
        both matchings run on them. Credit another transaction adds meanwhile
        is not seen by this one anyway (repeatable read)."""
        credits = self._get_matching_client_credit()
        lock_rows(self + credits + preferred_credits)
        preferred = preferred_credits._filter_open_receivable("credit")
        if preferred:
            (self + preferred)._reconcile_client_credit(locked=True)
        debits = self._filter_open_receivable("debit")
        rest = credits._filter_open_receivable("credit")
        if debits and rest:
            (debits + rest)._reconcile_client_credit(locked=True)

    def _reconcile_client_credit(self, locked=False):
        """Match the debit and credit items in ``self``, oldest first, per client
        and receivable account, in one run of Odoo's reconciliation
        (``_reconcile_plan_with_sync``: partials, exchange differences,
        cash-basis entries, full reconciliations, matching numbers, "paid"
        hooks).

        The items are locked first (see ``lock_rows``): two workers never match
        the same credit or the same debt twice. ``locked``: the caller has
        locked them already.

        "Oldest" is the earliest due date, then the earliest date: the credit
        received first pays the debt due first. Odoo's reconciliation sorts each
        group by due date only (``reduced_line_sorting``) and keeps the given
        order otherwise, so ties follow the order set here.
        """
        if not locked:
            lock_rows(self)
        # The context reaches every item of the plans (Odoo's reconciliation
        # reads them, not ``self``): see the computations it changes.
        lines = self.with_context(client_credit_apply=True, reduced_line_sorting=True)
        plans = defaultdict(lambda: lines.browse())
        for line in lines.sorted(_oldest_first):
            key = (line.partner_id.commercial_partner_id, line.account_id)
            plans[key] |= line
        plans = [
            lines
            for lines in plans.values()
            if any(line.amount_residual > 0 for line in lines)
            and any(line.amount_residual < 0 for line in lines)
        ]
        if not plans:
            return
        if lines._is_lean_reconcilable():
            lines._read_matchings_of_entries()
            plan_list, all_amls = lines._optimize_reconciliation_plan(plans)
            with matching_groups_remembered(self.env.cr):
                lines._reconcile_plan_with_sync(plan_list, all_amls)
        else:
            lines._reconcile_plan(plans)

    def _read_matchings_of_entries(self):
        """Read at once the items of the entries of ``self`` and their
        matchings, and the entries' payments.

        The reconciliation reads the matchings of ``self``; the propagation of
        the new matching, the payments' matched documents and the payment
        states then read the entries' other items (a payment's bank item, an
        invoice's product lines), their matchings, and the entries' payments.
        The ORM reads each of those one2many fields alone (two queries for the
        matchings, one per side), then the records' fields on first use (a
        query more each): here each comes whole with its ids, the matchings of
        both sides in one query."""
        moves = self.move_id
        fetch_one2many_in_full(moves, "line_ids")
        fetch_one2many_in_full(moves, "payment_ids")
        lines = moves.line_ids
        fetch_one2many_in_full(lines, "matched_debit_ids", "matched_credit_ids")

    def _is_lean_reconcilable(self):
        """Whether matching these items can skip the generic wrapping of
        ``_reconcile_plan``: the balance check and the re-synchronisation of
        every line of every move involved (tax, payment term, early-discount and
        rounding lines), which rewrites those lines' "dirty" flags and reads
        them all back, for each invoice and each payment.

        A matching in one currency, the company's, changes nothing they depend
        on: it writes the items' residual amounts, their matching numbers and
        full reconciliations, and creates new moves only (cash-basis entries,
        which Odoo builds and balances itself); no exchange difference can
        arise. That is nearly every invoice paid from credit. Anything else goes
        through the whole of ``_reconcile_plan``.
        """
        return (
            len(self.currency_id) == 1 and self.currency_id == self.company_currency_id
        )

    def _reconcile_client_credit_amount(self, credit_lines, amount):
        """Pay exactly ``amount`` (in the currency of ``self``) of the debit
        items ``self`` from ``credit_lines``, oldest first.

        The same reconciliation run as ``_reconcile_client_credit``, with the
        debits' residual amounts capped (``client_credit_limits``, see
        ``_prepare_reconciliation_plan``) so that it matches ``amount`` and no
        more: the oldest debits are paid first, and the last credit used may be
        used in part.
        """
        currency = self.currency_id
        remaining = amount
        limits = []
        debits = self.browse()
        for debit in self.sorted(_oldest_first):
            if currency.compare_amounts(remaining, 0) <= 0:
                break
            debits |= debit
            residual_currency = debit.amount_residual_currency
            if currency.compare_amounts(remaining, residual_currency) < 0:
                limit = min(
                    debit.company_currency_id.round(
                        remaining / debit._get_currency_rate()
                    ),
                    debit.amount_residual,
                )
                limits.append((debit.id, limit, remaining))
            remaining = currency.round(remaining - residual_currency)
        (debits + credit_lines).with_context(
            client_credit_limits=tuple(limits)
        )._reconcile_client_credit()

    # === BUSINESS METHODS - RECONCILIATION === #

    def _reconciled_by_number(self):
        """In the credit application, the items of the matching numbers it has
        just given are known (see ``matching_groups_remembered``): Odoo's
        search of them by number, and the write of the numbers it needs first,
        are left out."""
        if self.env.context.get("client_credit_apply"):
            numbers = {number for number in self.mapped("matching_number") if number}
            groups = remembered_matching_groups(self.env.cr, numbers)
            if groups is not None:
                return {
                    number: self.browse(line_ids) for number, line_ids in groups.items()
                }
        return super()._reconciled_by_number()

    @api.model
    def _prepare_reconciliation_plan(
        self, plan, amls_values_map, shadowed_aml_values=None
    ):
        """Odoo's reconciliation always matches as much as it can; it has no
        amount limit of its own. Pay From Credit pays a chosen amount, which may
        be less than both the invoice's debt and the credit.

        ``client_credit_limits`` in the context, ``((line id, amount, amount in
        currency), ...)``, caps the residual amounts this run starts from for
        those debit items: the run then matches at most that much of them, and
        makes the partials, their cash-basis entries and exchange differences as
        for any other matching. Only the run's working values are capped: the
        items keep their true residual amounts (so they are not fully matched,
        and no full reconcile is made for them).
        """
        limits = self.env.context.get("client_credit_limits")
        if limits:
            values_by_id = {aml.id: values for aml, values in amls_values_map.items()}
            for line_id, limit, limit_currency in limits:
                values = values_by_id.get(line_id)
                if values:
                    values["amount_residual"] = min(values["amount_residual"], limit)
                    values["amount_residual_currency"] = min(
                        values["amount_residual_currency"], limit_currency
                    )
        return super()._prepare_reconciliation_plan(
            plan, amls_values_map, shadowed_aml_values=shadowed_aml_values
        )
