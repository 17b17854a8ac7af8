from dateutil.relativedelta import relativedelta

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..utils import lock_rows


class ResPartner(models.Model):
    """A client's credit balance (read from the ledger), the saved payment
    method its credit requests are charged to, and the automatic top-up of a
    low balance."""

    _inherit = "res.partner"

    client_credit_currency_id = fields.Many2one(
        comodel_name="res.currency",
        compute="_compute_client_credit_balance",
    )
    client_credit_balance = fields.Monetary(
        string="Credit Balance",
        currency_field="client_credit_currency_id",
        compute="_compute_client_credit_balance",
        help="What the client has paid in advance in this company: payments not "
        "yet matched to an invoice and open credit notes, read from the ledger.",
    )
    auto_charge_credit_requests = fields.Boolean(
        string="Auto-charge Credit Requests",
        help="Credit requests sent to this client are charged at once, off-session, "
        "with the saved payment method below; failed charges are retried on a "
        "capped schedule.",
    )
    auto_charge_token_id = fields.Many2one(
        comodel_name="payment.token",
        string="Payment Method to Charge",
        domain="[('partner_id', 'child_of', commercial_partner_id)]",
        help="The client's saved card or direct-debit mandate charged by the "
        "auto-charge.",
    )
    icp_payment_disputed = fields.Boolean(
        string="Disputed a Payment",
        help="The client disputed a payment with their bank (chargeback).",
    )
    auto_topup = fields.Boolean(
        string="Automatic Top-up",
        help="When the credit balance falls below the threshold, a credit request "
        "of the top-up amount is created and charged automatically.",
    )
    auto_topup_currency_id = fields.Many2one(
        comodel_name="res.currency",
        compute="_compute_auto_topup_currency_id",
    )
    auto_topup_threshold = fields.Monetary(
        string="Top-up Below",
        currency_field="auto_topup_currency_id",
    )
    auto_topup_amount = fields.Monetary(
        string="Top-up Amount",
        currency_field="auto_topup_currency_id",
    )
    auto_topup_monthly_cap = fields.Monetary(
        string="Top-up Monthly Cap",
        currency_field="auto_topup_currency_id",
        help="Automatic top-ups of a calendar month never add up to more.",
    )

    # === COMPUTE METHODS === #

    @api.depends_context("company")
    def _compute_client_credit_balance(self):
        company = self.env.company
        commercial_partners = self.commercial_partner_id.filtered("id")
        balances = self.env["account.move.line"]._read_client_credit_balances(
            commercial_partners, company
        )
        for partner in self:
            partner.client_credit_currency_id = company.currency_id
            partner.client_credit_balance = balances.get(
                partner.commercial_partner_id.id, 0.0
            )

    @api.depends_context("company")
    def _compute_auto_topup_currency_id(self):
        self.auto_topup_currency_id = self.env.company.currency_id

    # === CONSTRAINT METHODS === #

    @api.constrains("auto_charge_credit_requests", "auto_charge_token_id")
    def _check_auto_charge_token(self):
        for partner in self:
            token = partner.sudo().auto_charge_token_id
            if partner.auto_charge_credit_requests and not token:
                raise ValidationError(
                    self.env._(
                        "Choose the saved payment method to charge for %s.",
                        partner.display_name,
                    )
                )
            if token and token.partner_id.commercial_partner_id != (
                partner.commercial_partner_id
            ):
                raise ValidationError(
                    self.env._(
                        "%(method)s is not a saved payment method of %(client)s.",
                        method=token.display_name,
                        client=partner.display_name,
                    )
                )

    @api.constrains(
        "auto_topup",
        "auto_topup_amount",
        "auto_topup_monthly_cap",
        "auto_topup_threshold",
        "auto_charge_credit_requests",
    )
    def _check_auto_topup(self):
        for partner in self.filtered("auto_topup"):
            if partner.auto_topup_amount <= 0 or partner.auto_topup_monthly_cap <= 0:
                raise ValidationError(
                    self.env._(
                        "The top-up amount and monthly cap of %s must be positive.",
                        partner.display_name,
                    )
                )
            if partner.auto_topup_threshold < 0:
                raise ValidationError(
                    self.env._("The top-up threshold cannot be negative.")
                )
            if not partner.auto_charge_credit_requests:
                raise ValidationError(
                    self.env._(
                        "Automatic top-up of %s needs its credit requests to be "
                        "auto-charged: turn that on and choose the payment method.",
                        partner.display_name,
                    )
                )

    # === ACTION METHODS === #

    def action_view_client_credit_moves(self):
        """Journal items that added to the client's credit (payments, credit
        notes) and what used them, for the commercial entity."""
        self.ensure_one()
        commercial_partner = self.commercial_partner_id
        return {
            "name": self.env._("Credit of %s", commercial_partner.display_name),
            "type": "ir.actions.act_window",
            "res_model": "account.move.line",
            "view_mode": "list",
            "views": [
                (
                    self.env.ref(
                        "invoice_client_pay.view_move_line_client_credit_list"
                    ).id,
                    "list",
                )
            ],
            "domain": [
                ("company_id", "=", self.env.company.id),
                ("partner_id.commercial_partner_id", "=", commercial_partner.id),
                ("account_type", "=", "asset_receivable"),
                ("parent_state", "=", "posted"),
                "|",
                ("balance", "<", 0),
                ("matched_credit_ids.client_credit_applied", "=", True),
            ],
            "context": {"create": False, "search_default_group_by_move": 0},
        }

    # === BUSINESS METHODS - CLIENT CREDIT === #

    def _get_fresh_client_credit(self, company):
        """The client's credit in ``company``, read from the ledger now (not
        from the cache), in the company's currency."""
        self.ensure_one()
        partner = self.commercial_partner_id.with_company(company)
        partner.invalidate_recordset(["client_credit_balance"])
        return partner.client_credit_balance

    def _check_refund_within_credit(self, amount, currency, company):
        """Refuse refunding ``amount`` (in ``currency``) of this client's money
        when it is more than the credit they have left in ``company``: the
        accountant must confirm a negative balance."""
        self.ensure_one()
        balance = self._get_fresh_client_credit(company)
        company_currency = company.currency_id
        amount_company = currency._convert(
            amount, company_currency, company, fields.Date.context_today(self)
        )
        if company_currency.compare_amounts(amount_company, balance) > 0:
            raise UserError(
                self.env._(
                    "You cannot refund %(amount)s: %(client)s only has %(credit)s of "
                    "credit left. Confirm a negative balance to refund anyway.",
                    amount=currency.format(amount),
                    client=self.commercial_partner_id.display_name,
                    credit=company_currency.format(balance),
                )
            )

    def _apply_client_credit_to_open_invoices(self, company):
        """Pay the clients' open invoices from their credit, oldest first.

        Called when credit arrives (a credit request paid, an overpayment) in a
        company that marks invoices paid automatically.
        """
        commercial_partners = self.commercial_partner_id
        if not commercial_partners or not company.auto_mark_invoices_paid:
            return
        Line = self.env["account.move.line"]
        Line.search(
            Line._get_client_debt_domain(commercial_partners, company)
        )._reconcile_with_client_credit()

    # === BUSINESS METHODS - AUTOMATIC TOP-UP === #

    @api.model
    def _cron_auto_topup(self):
        partners = self.search([("auto_topup", "=", True)])
        # A handful of companies.
        for company in self.env["res.company"].search([]):  # pylint: disable=no-search-all
            partners.with_company(company)._top_up_low_credit(company)
        return True

    def _top_up_low_credit(self, company):
        """Create and send (hence auto-charge) a top-up request for each client
        whose credit is below its threshold, unless one is still open or the
        month's cap is reached. The client rows are locked first, so two
        transactions cannot both top up."""
        # The request is emailed when sent: a client without email is left to
        # the accountant.
        partners = self.commercial_partner_id.filtered(
            lambda partner: partner.auto_topup and partner.email
        )
        if not partners:
            return self.env["account.credit.request"]
        lock_rows(partners)
        balances = self.env["account.move.line"]._read_client_credit_balances(
            partners, company
        )
        created = self.env["account.credit.request"]
        for partner in partners:
            balance = balances.get(partner.id, 0.0)
            if (
                company.currency_id.compare_amounts(
                    balance, partner.auto_topup_threshold
                )
                >= 0
            ):
                continue
            amount = partner._get_auto_topup_amount(company)
            if company.currency_id.compare_amounts(amount, 0) > 0:
                created |= partner._create_auto_topup(company, amount, balance)
        if created:
            created.with_context(icp_defer_auto_charge=True).action_send()
        return created

    def _get_auto_topup_amount(self, company):
        """What a new top-up of this client may ask: its top-up amount, within
        what the month's cap leaves; nothing while a top-up is still open."""
        self.ensure_one()
        month_start = fields.Date.context_today(self).replace(day=1)
        topups = self.env["account.credit.request"].search(
            [
                ("commercial_partner_id", "=", self.id),
                ("company_id", "=", company.id),
                ("is_auto_topup", "=", True),
                ("state", "!=", "cancel"),
                ("date", ">=", month_start),
                ("date", "<", month_start + relativedelta(months=1)),
            ]
        )
        if topups.filtered(lambda r: r.state in ("draft", "sent", "pending")):
            return 0.0  # One top-up at a time.
        room = company.currency_id.round(
            self.auto_topup_monthly_cap - sum(topups.mapped("amount"))
        )
        return min(self.auto_topup_amount, room)

    def _create_auto_topup(self, company, amount, balance):
        self.ensure_one()
        currency = company.currency_id
        request = self.env["account.credit.request"].create(
            {
                "partner_id": self.id,
                "company_id": company.id,
                "currency_id": currency.id,
                "amount": amount,
                "is_auto_topup": True,
            }
        )
        request.message_post(
            body=self.env._(
                "Automatic top-up: the credit (%(balance)s) fell below %(threshold)s.",
                balance=currency.format(balance),
                threshold=currency.format(self.auto_topup_threshold),
            )
        )
        return request
