from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import SQL

# Payment states in which a payment's money is in the ledger.
POSTED_PAYMENT_STATES = ("in_process", "paid")


class AccountCreditRequest(models.Model):
    _name = "account.credit.request"
    _description = "Credit Request"
    _inherit = ["portal.mixin", "mail.thread", "mail.activity.mixin"]
    _order = "date desc, id desc"
    _check_company_auto = True

    name = fields.Char(
        string="Number",
        required=True,
        readonly=True,
        copy=False,
        default="/",
        index="trigram",
    )
    partner_id = fields.Many2one(
        comodel_name="res.partner",
        string="Client",
        required=True,
        tracking=True,
        check_company=True,
        index=True,
        domain="[('type', '!=', 'private')]",
    )
    commercial_partner_id = fields.Many2one(
        related="partner_id.commercial_partner_id",
        store=True,
        index=True,
        string="Commercial Entity",
    )
    company_id = fields.Many2one(
        comodel_name="res.company",
        required=True,
        default=lambda self: self.env.company,
        index=True,
    )
    currency_id = fields.Many2one(
        comodel_name="res.currency",
        required=True,
        compute="_compute_currency_id",
        store=True,
        readonly=False,
        precompute=True,
        tracking=True,
    )
    amount = fields.Monetary(required=True, tracking=True)
    date = fields.Date(
        string="Request Date",
        required=True,
        default=fields.Date.context_today,
        copy=False,
    )
    date_due = fields.Date(string="Due Date", tracking=True, copy=False)
    note = fields.Html()
    state = fields.Selection(
        selection=[
            ("draft", "Draft"),
            ("sent", "Sent"),
            ("pending", "Pending"),
            ("paid", "Paid"),
            ("cancel", "Cancelled"),
        ],
        default="draft",
        required=True,
        readonly=True,
        copy=False,
        tracking=True,
        index=True,
        help="Pending: a payment is clearing (bank transfer, direct debit); its "
        "money is not yet credit.",
    )
    payment_ids = fields.One2many(
        comodel_name="account.payment",
        inverse_name="credit_request_id",
        string="Payments",
        readonly=True,
    )
    transaction_ids = fields.Many2many(
        comodel_name="payment.transaction",
        relation="account_credit_request_transaction_rel",
        column1="credit_request_id",
        column2="transaction_id",
        string="Transactions",
        readonly=True,
        copy=False,
    )
    amount_paid = fields.Monetary(
        compute="_compute_amounts",
        store=True,
        help="Posted payments of this request, in its currency.",
    )
    amount_residual = fields.Monetary(
        string="Still to Pay",
        compute="_compute_amounts",
        store=True,
    )
    payment_count = fields.Integer(compute="_compute_payment_count")

    is_sent = fields.Boolean(
        readonly=True,
        copy=False,
        help="The request was emailed to the client: reopened, it is 'sent' again.",
    )

    # ------------------------------------------------------------
    # COMPUTE
    # ------------------------------------------------------------

    @api.depends("company_id")
    def _compute_currency_id(self):
        for request in self:
            request.currency_id = request.currency_id or request.company_id.currency_id

    @api.depends(
        "amount",
        "currency_id",
        "payment_ids.state",
        "payment_ids.amount",
        "payment_ids.currency_id",
        "payment_ids.date",
    )
    def _compute_amounts(self):
        for request in self:
            paid = 0.0
            for payment in request.payment_ids:
                if payment.state not in POSTED_PAYMENT_STATES:
                    continue
                paid += payment.currency_id._convert(
                    payment.amount,
                    request.currency_id,
                    request.company_id,
                    payment.date,
                )
            request.amount_paid = request.currency_id.round(paid)
            request.amount_residual = max(
                request.currency_id.round(request.amount - paid), 0.0
            )

    def _compute_payment_count(self):
        for request in self:
            request.payment_count = len(request.payment_ids)

    def _compute_access_url(self):  # pylint: disable=missing-return
        super()._compute_access_url()
        for request in self:
            request.access_url = f"/my/credit_requests/{request.id}"

    # ------------------------------------------------------------
    # CONSTRAINT
    # ------------------------------------------------------------

    @api.constrains("amount")
    def _check_amount_positive(self):
        for request in self:
            if request.currency_id.compare_amounts(request.amount, 0) <= 0:
                raise ValidationError(
                    self.env._(
                        "The amount of credit request %s must be positive.",
                        request.name,
                    )
                )

    # ------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if vals.get("name", "/") == "/":
                company = self.env["res.company"].browse(
                    vals.get("company_id") or self.env.company.id
                )
                vals["name"] = (
                    self.env["ir.sequence"]
                    .with_company(company)
                    .next_by_code("account.credit.request", vals.get("date"))
                    or "/"
                )
        return super().create(vals_list)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_not_draft(self):
        if any(request.state not in ("draft", "cancel") for request in self):
            raise UserError(
                self.env._("Only draft or cancelled credit requests can be deleted.")
            )
        if self.payment_ids:
            raise UserError(
                self.env._("A credit request with payments cannot be deleted.")
            )

    # ------------------------------------------------------------
    # ACTION
    # ------------------------------------------------------------

    def action_send(self):
        """Confirm the requests and email them, with their secure payment link."""
        template = self.env.ref("invoice_client_pay.mail_template_credit_request")
        for request in self:
            if request.state not in ("draft", "sent"):
                raise UserError(
                    self.env._(
                        "Credit request %(name)s is %(state)s: only draft or sent "
                        "requests can be sent.",
                        name=request.name,
                        state=request._state_label(),
                    )
                )
            if not request.partner_id.email:
                raise UserError(
                    self.env._(
                        "%(client)s has no email address: add one to send credit "
                        "request %(name)s.",
                        client=request.partner_id.display_name,
                        name=request.name,
                    )
                )
            request._portal_ensure_token()
            request.write({"state": "sent", "is_sent": True})
            request.message_post_with_source(template, subtype_xmlid="mail.mt_comment")
        return True

    def action_register_payment(self):
        """Record money received outside Odoo (cash, cheque, bank): the Take
        Payment wizard, offline."""
        action = self.action_take_payment()
        action["context"]["default_payment_mode"] = "offline"
        return action

    def action_cancel(self):
        for request in self:
            if request.payment_ids.filtered(
                lambda pay: pay.state in POSTED_PAYMENT_STATES
            ):
                raise UserError(
                    self.env._(
                        "Credit request %s has a posted payment: reverse or cancel "
                        "the payment first, then cancel the request.",
                        request.name,
                    )
                )
        self.state = "cancel"
        return True

    def action_draft(self):
        if any(request.state != "cancel" for request in self):
            raise UserError(
                self.env._("Only cancelled credit requests can be reset to draft.")
            )
        self.state = "draft"
        return True

    def action_view_payments(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "account.action_account_payments"
        )
        action["domain"] = [("id", "in", self.payment_ids.ids)]
        action["context"] = {"create": False}
        if len(self.payment_ids) == 1:
            action.update(view_mode="form", views=False, res_id=self.payment_ids.id)
        return action

    # ------------------------------------------------------------
    # BUSINESS
    # ------------------------------------------------------------

    def _state_label(self):
        self.ensure_one()
        return dict(self._fields["state"]._description_selection(self.env))[self.state]

    def _check_can_be_paid(self):
        for request in self:
            if request.state in ("paid", "cancel"):
                raise UserError(
                    self.env._(
                        "Credit request %(name)s is %(state)s and cannot be paid.",
                        name=request.name,
                        state=request._state_label(),
                    )
                )

    def _update_state_from_payments(self):
        """Follow the money: paid once posted payments cover the amount; open
        again when they no longer do (a payment cancelled or reversed)."""
        for request in self:
            if request.state == "cancel":
                continue
            if request.currency_id.compare_amounts(request.amount_residual, 0) <= 0:
                new_state = "paid"
            elif request._has_pending_transaction():
                new_state = "pending"
            elif request.state in ("paid", "pending"):
                new_state = "sent" if request.is_sent else "draft"
            else:
                new_state = request.state
            if new_state != request.state:
                request.state = new_state

    def _lock_for_payment(self):
        """Block other payments of these requests until this transaction ends,
        then re-read them: two cashiers cannot both pay what is still to pay."""
        self.env.execute_query(
            SQL(
                "SELECT id FROM account_credit_request WHERE id IN %s FOR UPDATE",
                tuple(self.ids),
            )
        )
        self.invalidate_recordset()

    def _has_pending_transaction(self):
        self.ensure_one()
        return any(tx.state == "pending" for tx in self.transaction_ids)

    def get_secure_payment_url(self):
        """The absolute link, carried by emails, that opens this request's
        payment page without logging in."""
        self.ensure_one()
        return self.get_base_url() + self._get_payment_link_path()

    def _get_report_base_filename(self):
        self.ensure_one()
        return f"Credit Request {self.name}".replace("/", "_")
