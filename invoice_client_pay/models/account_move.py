from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError


class AccountMove(models.Model):
    _inherit = "account.move"

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

    # ------------------------------------------------------------
    # COMPUTE
    # ------------------------------------------------------------

    @api.depends(
        "line_ids.matched_credit_ids.client_credit_applied",
        "line_ids.matched_credit_ids.debit_amount_currency",
    )
    def _compute_amount_paid_from_credit(self):
        for move in self:
            partials = move.line_ids.filtered(
                lambda line: line.account_type == "asset_receivable"
            ).matched_credit_ids.filtered("client_credit_applied")
            move.amount_paid_from_credit = sum(partials.mapped("debit_amount_currency"))

    @api.depends("partner_id", "company_id", "state", "payment_state", "move_type")
    @api.depends_context("uid")
    def _compute_client_credit_available(self):
        is_accountant = self.env["account.move"]._is_client_credit_accountant()
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

    # ------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------

    def _post(self, soft=True):
        posted = super()._post(soft=soft)
        posted._apply_client_credit_on_post()
        return posted

    # ------------------------------------------------------------
    # ACTION
    # ------------------------------------------------------------

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

    # ------------------------------------------------------------
    # BUSINESS
    # ------------------------------------------------------------

    @api.model
    def _is_client_credit_accountant(self):
        user = self.env.user
        return user.has_group("account.group_account_user") or user.has_group(
            "account.group_account_manager"
        )

    def _is_payable_from_client_credit(self):
        self.ensure_one()
        return (
            self.move_type == "out_invoice"
            and self.state == "posted"
            and self.payment_state not in ("paid", "in_payment", "reversed")
            and self.company_id.auto_mark_invoices_paid
            and not self.currency_id.is_zero(self.amount_residual)
        )

    def _check_payable_from_client_credit(self):
        """Raise a clear error when this invoice cannot be paid from credit."""
        self.ensure_one()
        if not self._is_client_credit_accountant():
            raise AccessError(
                self.env._(
                    "Only accounting users can pay an invoice from a client's credit."
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
        if self.payment_state in ("paid", "in_payment", "reversed") or (
            self.currency_id.is_zero(self.amount_residual)
        ):
            raise UserError(
                self.env._("Invoice %s has nothing left to pay.", self.display_name)
            )

    def _client_credit_lines(self):
        """The credit items that can pay this invoice: same client, company and
        receivable account."""
        self.ensure_one()
        Line = self.env["account.move.line"]
        receivable_accounts = self._client_receivable_lines().account_id
        return Line.search(
            Line._client_credit_domain(self.commercial_partner_id, self.company_id)
            + [("account_id", "in", receivable_accounts.ids)]
        )

    def _client_receivable_lines(self):
        return self.line_ids.filtered(
            lambda line: (
                line.account_type == "asset_receivable"
                and not line.reconciled
                and line.amount_residual > 0
            )
        )

    def _client_credit_available_in_currency(self, credit_lines):
        """What ``credit_lines`` are worth in this invoice's currency."""
        self.ensure_one()
        debit = self._client_receivable_lines()[:1]
        if not debit:
            return 0.0
        return sum(
            line._client_credit_in_currency(self.currency_id, debit)
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
        debits = self._client_receivable_lines()
        credits = self._client_credit_lines()
        (debits + credits)._lock_for_client_credit()
        self.invalidate_recordset(["amount_residual", "payment_state"])
        debits = debits.filtered(lambda line: not line.reconciled)
        credits = credits.filtered(lambda line: not line.reconciled)
        still_to_pay = sum(debits.mapped("amount_residual_currency"))
        available = self._client_credit_available_in_currency(credits)
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
        debits._reconcile_client_credit_amount(credits, amount)
        self.message_post(
            body=self.env._(
                "%(amount)s paid from the client's credit.",
                amount=currency.format(amount),
            )
        )

    def _apply_client_credit_on_post(self):
        """Pay newly posted customer invoices from their client's credit."""
        if self.env.context.get("skip_client_credit"):
            return
        invoices = self.filtered(
            lambda move: (
                move.move_type == "out_invoice"
                and move.company_id.auto_mark_invoices_paid
            )
        )
        Line = self.env["account.move.line"]
        for company in invoices.company_id:
            company_invoices = invoices.filtered(lambda m, c=company: m.company_id == c)
            debits = company_invoices._client_receivable_lines()
            if not debits:
                continue
            credits = Line.search(
                Line._client_credit_domain(
                    debits.partner_id.commercial_partner_id, company
                )
                + [("account_id", "in", debits.account_id.ids)]
            )
            if credits:
                (debits + credits)._lock_for_client_credit()
                (debits + credits)._reconcile_client_credit()
