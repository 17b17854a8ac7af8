from collections import defaultdict

from odoo import api, models
from odoo.tools import SQL


class AccountMoveLine(models.Model):
    _inherit = "account.move.line"

    # ------------------------------------------------------------
    # CLIENT CREDIT: what the ledger says a client has paid in advance
    # ------------------------------------------------------------

    @api.model
    def _client_credit_domain(self, commercial_partners, company):
        """Receivable journal items that are a client's credit in ``company``.

        Credit is money sitting on the client's receivable account, on the credit
        side and not yet matched: unreconciled payments (credit-request payments,
        overpayments) and open credit notes.
        """
        return [
            ("company_id", "=", company.id),
            ("partner_id", "child_of", commercial_partners.ids),
            ("account_type", "=", "asset_receivable"),
            ("parent_state", "=", "posted"),
            ("reconciled", "=", False),
            ("amount_residual", "<", 0),
        ]

    @api.model
    def _client_open_debit_domain(self, commercial_partners, company):
        """Receivable items of posted customer invoices still to be paid."""
        return [
            ("company_id", "=", company.id),
            ("partner_id", "child_of", commercial_partners.ids),
            ("account_type", "=", "asset_receivable"),
            ("parent_state", "=", "posted"),
            ("move_id.move_type", "=", "out_invoice"),
            ("reconciled", "=", False),
            ("amount_residual", ">", 0),
        ]

    @api.model
    def _read_client_credit_balances(self, commercial_partners, company):
        """Credit of many clients at once, in one grouped query.

        :return: {commercial partner id: credit in company currency}
        """
        if not commercial_partners:
            return {}
        self.env["account.move.line"].flush_model(
            [
                "company_id",
                "partner_id",
                "account_id",
                "parent_state",
                "reconciled",
                "amount_residual",
            ]
        )
        self.env["res.partner"].flush_model(["commercial_partner_id"])
        rows = self.env.execute_query(
            SQL(
                """
                SELECT partner.commercial_partner_id, SUM(-line.amount_residual)
                  FROM account_move_line line
                  JOIN res_partner partner ON partner.id = line.partner_id
                  JOIN account_account account ON account.id = line.account_id
                 WHERE line.company_id = %(company)s
                   AND partner.commercial_partner_id IN %(partners)s
                   AND account.account_type = 'asset_receivable'
                   AND line.parent_state = 'posted'
                   AND NOT line.reconciled
                   AND line.amount_residual < 0
              GROUP BY partner.commercial_partner_id
                """,
                company=company.id,
                partners=tuple(commercial_partners.ids),
            )
        )
        return dict(rows)

    # ------------------------------------------------------------
    # APPLYING CREDIT
    # ------------------------------------------------------------

    def _reconcile_client_credit(self):
        """Match the debit and credit items in ``self``, oldest first, per client
        and receivable account, in one reconciliation run.

        "Oldest" is the earliest due date, then the earliest date: the credit
        received first pays the debt due first. Odoo's reconciliation sorts each
        group by due date only (``reduced_line_sorting``) and keeps the given
        order otherwise, so ties follow the order set here.
        """
        plans = defaultdict(lambda: self.browse())
        ordered = self.sorted(
            lambda line: (line.date_maturity or line.date, line.date, line.id)
        )
        for line in ordered:
            key = (line.partner_id.commercial_partner_id, line.account_id)
            plans[key] |= line
        plans = [
            lines
            for lines in plans.values()
            if any(line.amount_residual > 0 for line in lines)
            and any(line.amount_residual < 0 for line in lines)
        ]
        if plans:
            self.with_context(
                client_credit_apply=True, reduced_line_sorting=True
            )._reconcile_plan(plans)

    def _reconcile_client_credit_amount(self, credit_lines, amount):
        """Pay exactly ``amount`` (in the currency of ``self``) of the debit
        items ``self`` from ``credit_lines``, oldest credit first.

        A part of a line cannot go through Odoo's reconciliation, which always
        matches as much as it can. So a matching that uses a whole line (the
        credit or what is left of the debt) goes through it, and only the last,
        smaller-than-both piece is written as a partial by hand; neither of its
        two lines is then fully matched, so no full reconcile, exchange difference
        or cash-basis entry is owed for it.
        """
        currency = self.currency_id
        remaining = amount

        def oldest_first(line):
            return (line.date_maturity or line.date, line.date, line.id)

        for debit in self.sorted(oldest_first):
            for credit in credit_lines.sorted(oldest_first):
                if currency.compare_amounts(remaining, 0) <= 0:
                    return
                if debit.reconciled or credit.reconciled:
                    continue
                debt = debit.amount_residual_currency
                available = credit._client_credit_in_currency(currency, debit)
                if currency.is_zero(available):
                    continue
                if currency.compare_amounts(remaining, min(debt, available)) >= 0:
                    used = min(debt, available)
                    (debit + credit).with_context(client_credit_apply=True).reconcile()
                else:
                    used = remaining
                    debit._create_client_credit_partial(credit, used)
                remaining = currency.round(remaining - used)

    def _client_credit_in_currency(self, currency, debit):
        """What is left of credit item ``self``, expressed in ``currency`` (the
        debit's) at the debit's own rate, so both sides of a matching agree."""
        self.ensure_one()
        if self.currency_id == currency:
            return -self.amount_residual_currency
        rate = debit._client_credit_rate()
        return currency.round(-self.amount_residual * rate)

    def _client_credit_rate(self):
        """Units of this item's currency per unit of company currency."""
        self.ensure_one()
        if self.currency_id == self.company_currency_id or not self.balance:
            return 1.0
        return abs(self.amount_currency / self.balance)

    def _create_client_credit_partial(self, credit, amount_currency):
        """Write one partial matching of ``amount_currency`` (in the currency of
        the debit item ``self``) against credit item ``credit``."""
        self.ensure_one()
        rate = self._client_credit_rate()
        amount = self.company_currency_id.round(amount_currency / rate)
        if credit.currency_id == self.currency_id:
            credit_amount_currency = amount_currency
        elif credit.currency_id == self.company_currency_id:
            credit_amount_currency = amount
        else:
            credit_amount_currency = credit.currency_id.round(
                amount * credit._client_credit_rate()
            )
        return (
            self.env["account.partial.reconcile"]
            .with_context(client_credit_apply=True)
            .create(
                {
                    "debit_move_id": self.id,
                    "credit_move_id": credit.id,
                    "amount": amount,
                    "debit_amount_currency": amount_currency,
                    "credit_amount_currency": credit_amount_currency,
                }
            )
        )

    def _lock_for_client_credit(self):
        """Block until no one else is matching these items, then re-read them.

        Under Odoo's repeatable-read transactions, a row changed and committed by
        the other worker makes this lock fail with a serialization error; Odoo
        then retries the whole request, which re-reads the fresh state.
        """
        if not self:
            return
        self.env.execute_query(
            SQL(
                "SELECT id FROM account_move_line WHERE id IN %s ORDER BY id "
                "FOR UPDATE",
                tuple(self.ids),
            )
        )
        self.invalidate_recordset(
            ["amount_residual", "amount_residual_currency", "reconciled"]
        )
