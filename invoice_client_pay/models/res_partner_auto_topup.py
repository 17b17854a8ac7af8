# One file per feature (the team splits the work by file): the classes that
# inherit the same model are not merged on purpose.
# pylint: disable=consider-merging-classes-inherited
from dateutil.relativedelta import relativedelta

from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import SQL


class ResPartner(models.Model):
    """Automatic top-up: when a client's credit falls below a threshold, a
    credit request is created and auto-charged, never beyond a monthly cap."""

    _inherit = "res.partner"

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

    # ------------------------------------------------------------
    # COMPUTE
    # ------------------------------------------------------------

    @api.depends_context("company")
    def _compute_auto_topup_currency_id(self):
        self.auto_topup_currency_id = self.env.company.currency_id

    # ------------------------------------------------------------
    # CONSTRAINT
    # ------------------------------------------------------------

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

    # ------------------------------------------------------------
    # BUSINESS
    # ------------------------------------------------------------

    @api.model
    def _cron_auto_topup(self):
        partners = self.search([("auto_topup", "=", True)])
        # A handful of companies.
        for company in self.env["res.company"].search([]):  # pylint: disable=no-search-all
            partners.with_company(company)._icp_check_auto_topup(company)
        return True

    def _icp_check_auto_topup(self, company):
        """Create and send (hence auto-charge) a top-up request for each client
        whose credit is below its threshold, unless one is still open or the
        month's cap is reached. The client row is locked first, so two
        transactions cannot both top up."""
        # The request is emailed when sent: a client without email is left to
        # the accountant.
        partners = self.commercial_partner_id.filtered(
            lambda partner: partner.auto_topup and partner.email
        )
        if not partners:
            return self.env["account.credit.request"]
        self.env.execute_query(
            SQL(
                "SELECT id FROM res_partner WHERE id IN %s ORDER BY id FOR UPDATE",
                tuple(partners.ids),
            )
        )
        partners.invalidate_recordset()
        balances = self.env["account.move.line"]._read_client_credit_balances(
            partners, company
        )
        currency = company.currency_id
        Request = self.env["account.credit.request"]
        created = Request
        month_start = fields.Date.context_today(self).replace(day=1)
        for partner in partners:
            balance = balances.get(partner.id, 0.0)
            if currency.compare_amounts(balance, partner.auto_topup_threshold) >= 0:
                continue
            topups = Request.search(
                [
                    ("commercial_partner_id", "=", partner.id),
                    ("company_id", "=", company.id),
                    ("is_auto_topup", "=", True),
                    ("state", "!=", "cancel"),
                    ("date", ">=", month_start),
                    ("date", "<", month_start + relativedelta(months=1)),
                ]
            )
            if topups.filtered(lambda r: r.state in ("draft", "sent", "pending")):
                continue  # One top-up at a time.
            room = currency.round(
                partner.auto_topup_monthly_cap - sum(topups.mapped("amount"))
            )
            amount = min(partner.auto_topup_amount, room)
            if currency.compare_amounts(amount, 0) <= 0:
                continue
            request = Request.create(
                {
                    "partner_id": partner.id,
                    "company_id": company.id,
                    "currency_id": currency.id,
                    "amount": amount,
                    "is_auto_topup": True,
                }
            )
            request.message_post(
                body=self.env._(
                    "Automatic top-up: the credit (%(balance)s) fell below "
                    "%(threshold)s.",
                    balance=currency.format(balance),
                    threshold=currency.format(partner.auto_topup_threshold),
                )
            )
            created |= request
        if created:
            created.with_context(icp_defer_auto_charge=True).action_send()
        return created
