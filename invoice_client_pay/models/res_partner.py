import operator as py_operator
import time
import uuid
from collections import defaultdict

from dateutil.relativedelta import relativedelta
from markupsafe import escape

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import format_date
from odoo.tools.misc import consteq, hmac

from ..utils import lock_rows
from .payment_link_mixin import PAYMENT_LINK_SCOPE

PAY_ALL_LINK_SCOPE = f"{PAYMENT_LINK_SCOPE}.pay_all"
# Clients whose reminders are sent (and committed) together.
REMINDER_BATCH = 100

# Only accounting users may make the system charge a client: they alone read and
# write these settings (any other write, also over RPC, is an AccessError).
CHARGE_SETTINGS_GROUPS = "account.group_account_user,account.group_account_manager"

# The comparisons a search on the credit balance accepts.
BALANCE_OPERATORS = {
    "=": py_operator.eq,
    "!=": py_operator.ne,
    ">": py_operator.gt,
    ">=": py_operator.ge,
    "<": py_operator.lt,
    "<=": py_operator.le,
}


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
        search="_search_client_credit_balance",
        help="What the client has paid in advance in this company: payments not "
        "yet matched to an invoice and open credit notes, read from the ledger.",
    )
    # The charge settings are per company, as Odoo's partner properties: a
    # client's choice in one company never charges them in another.
    auto_charge_credit_requests = fields.Boolean(
        string="Auto-charge Credit Requests",
        company_dependent=True,
        groups=CHARGE_SETTINGS_GROUPS,
        help="Credit requests sent to this client are charged at once, off-session, "
        "with the saved payment method below; failed charges are retried on a "
        "capped schedule.",
    )
    auto_charge_token_id = fields.Many2one(
        comodel_name="payment.token",
        string="Payment Method to Charge",
        company_dependent=True,
        groups=CHARGE_SETTINGS_GROUPS,
        domain="[('partner_id', 'child_of', commercial_partner_id)]",
        help="The client's saved card or direct-debit mandate charged by the "
        "auto-charge.",
    )
    icp_payment_disputed = fields.Boolean(
        string="Disputed a Payment",
        help="The client disputed a payment with their bank (chargeback).",
    )
    payment_reminder_opt_out = fields.Boolean(
        string="No Payment Reminders",
        help="This client is never reminded of what it still has to pay.",
    )
    payment_reminder_schedule_id = fields.Many2one(
        comodel_name="invoice_client_pay.reminder.schedule",
        help="When this client is reminded of its unpaid documents of the "
        "schedule's company. Empty: the company's schedule.",
    )
    pay_all_link_token = fields.Char(
        copy=False,
        groups="base.group_system",
        help="Signs this client's pay-all links: a new one revokes them all.",
    )
    auto_topup = fields.Boolean(
        string="Automatic Top-up",
        company_dependent=True,
        groups=CHARGE_SETTINGS_GROUPS,
        help="When the credit balance falls below the threshold, a credit request "
        "of the top-up amount is created and charged automatically.",
    )
    auto_topup_currency_id = fields.Many2one(
        comodel_name="res.currency",
        compute="_compute_auto_topup_currency_id",
    )
    # Company-dependent fields cannot be Monetary: Floats in the company's
    # currency (auto_topup_currency_id), rounded by it where they are used.
    auto_topup_threshold = fields.Float(
        string="Top-up Below",
        company_dependent=True,
        groups=CHARGE_SETTINGS_GROUPS,
        digits="Account",
    )
    auto_topup_amount = fields.Float(
        string="Top-up Amount",
        company_dependent=True,
        groups=CHARGE_SETTINGS_GROUPS,
        digits="Account",
    )
    auto_topup_monthly_cap = fields.Float(
        string="Top-up Monthly Cap",
        company_dependent=True,
        groups=CHARGE_SETTINGS_GROUPS,
        digits="Account",
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

    def _search_client_credit_balance(self, operator, value):
        """Clients by credit balance in the current company: one grouped query
        over the credit of every client (``_read_client_credit_balances``)."""
        compare = BALANCE_OPERATORS.get(operator)
        if compare is None or not isinstance(value, (int, float)):
            return NotImplemented
        company = self.env.company
        currency = company.currency_id
        balances = self.env["account.move.line"]._read_client_credit_balances(
            None, company
        )
        matching = [
            partner_id
            for partner_id, balance in balances.items()
            if compare(currency.compare_amounts(balance, value), 0)
        ]
        domain = [("commercial_partner_id", "in", matching)]
        if compare(currency.compare_amounts(0.0, value), 0):
            # Clients without any credit have a balance of zero.
            domain = [
                "|",
                *domain,
                ("commercial_partner_id", "not in", list(balances)),
            ]
        return domain

    # === CONSTRAINT METHODS === #

    @api.constrains("auto_charge_credit_requests", "auto_charge_token_id")
    def _check_auto_charge_token(self):
        for partner in self.sudo():
            token = partner.auto_charge_token_id
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
        for partner in self.sudo().filtered("auto_topup"):
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

    def action_revoke_pay_all_links(self):
        """Make every pay-all link sent so far to these clients stop working."""
        self.check_access("write")
        for partner in self:
            partner.sudo().pay_all_link_token = str(uuid.uuid4())
            partner.message_post(
                body=self.env._(
                    "Pay-all links revoked: links sent before now no longer work."
                )
            )
        return True

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

    def action_view_client_credit_statement(self):
        """The client's credit statement (the movements with their running
        balance, as the client sees it on the portal), opened in the back office
        as an HTML report that prints as the PDF statement."""
        self.ensure_one()
        action = self.env.ref(
            "invoice_client_pay.action_report_client_credit_statement"
        ).report_action(self.commercial_partner_id, config=False)
        action["report_type"] = "qweb-html"
        return action

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
        """Top up the clients whose credit is low, company by company (each
        company's own top-up settings). Also triggered when credit is used
        (invoice posted, Pay From Credit): the top-up runs in its own short
        transaction, never inside the posting."""
        # A handful of companies.
        for company in self.env["res.company"].search([]):  # pylint: disable=no-search-all
            partners = (
                self.sudo().with_company(company).search([("auto_topup", "=", True)])
            )
            partners._top_up_low_credit(company)
        return True

    def _top_up_low_credit(self, company):
        """Create and send (hence auto-charge) a top-up request for each client
        whose credit is below its threshold, unless one is still open or the
        month's cap is reached. The client rows are locked first, so two
        transactions cannot both top up."""
        # The request is emailed when sent: a client without email is left to
        # the accountant.
        partners = self.with_company(company).commercial_partner_id.filtered(
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
        return company.currency_id.round(min(self.auto_topup_amount, room))

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

    # === BUSINESS METHODS - PAYMENT REMINDERS === #

    @api.model
    def _cron_send_payment_reminders(self, batch_size=REMINDER_BATCH, clients=None):
        """Remind clients of what they still have to pay: one email per client
        and run, listing all its unpaid items, for the clients of which at
        least one document reached a step of its schedule.

        Clients are handled ``batch_size`` at a time, each batch committed
        with its reminder logs, chatter notes and queued emails (Odoo's mail
        queue sends them; nothing is sent synchronously).

        :param clients: only these clients (commercial entities), e.g. to
            remind one client now; default: all
        """
        documents_by_client = self._get_reminder_documents(clients)
        clients = sorted(documents_by_client, key=lambda client: client.id)
        in_cron = bool(self.env.context.get("ir_cron_progress_id"))
        if in_cron:
            self.env["ir.cron"]._commit_progress(remaining=len(clients))
        for start in range(0, len(clients), batch_size):
            batch = clients[start : start + batch_size]
            self._send_payment_reminders(
                {client: documents_by_client[client] for client in batch}
            )
            if in_cron and self.env["ir.cron"]._commit_progress(len(batch)) <= 0:
                break
        return True

    @api.model
    def _get_reminder_documents(self, clients=None):
        """{client (commercial entity): [documents]} of every document a
        reminder may be about: payable invoices with a due date and sent
        credit requests, of companies with a schedule and of clients that did
        not opt out. Never a document that is paid, cancelled, pending within
        its window (money on its way) or still to be charged automatically.
        A fixed number of queries, whatever the number of documents."""
        companies = (
            self.env["res.company"]
            .sudo()
            .search([("payment_reminder_schedule_id", "!=", False)])
        )
        if not companies:
            return {}
        client_domain = []
        if clients is not None:
            client_domain = [("commercial_partner_id", "in", clients.ids)]
        Move = self.env["account.move"].sudo()
        invoices = Move.search(
            [
                *client_domain,
                *Move._get_client_payable_domain(),
                ("company_id", "in", companies.ids),
                ("invoice_date_due", "!=", False),
                ("commercial_partner_id.payment_reminder_opt_out", "=", False),
            ],
            order="invoice_date_due, id",
        )
        invoices = invoices.filtered(
            lambda invoice: (
                not any(
                    tx.state == "pending" and not tx._is_pending_lapsed()
                    for tx in invoice.transaction_ids
                )
            )
        )
        CreditRequest = self.env["account.credit.request"].sudo()
        requests = CreditRequest.search(
            [
                *client_domain,
                *CreditRequest._get_client_payable_domain(),
                ("state", "=", "sent"),  # not pending: money on its way
                ("auto_charge_next_date", "=", False),  # not about to be charged
                ("company_id", "in", companies.ids),
                ("commercial_partner_id.payment_reminder_opt_out", "=", False),
            ],
            order="date_due, date, id",
        )
        documents_by_client = defaultdict(list)
        for document in (*invoices, *requests):
            documents_by_client[document.commercial_partner_id].append(document)
        return documents_by_client

    @staticmethod
    def _get_reminder_due_date(document):
        if document._name == "account.move":
            return document.invoice_date_due
        return document.date_due or document.date

    def _get_reminder_schedule(self, company):
        """The client's own schedule in ``company``, else the company's."""
        self.ensure_one()
        schedule = self.payment_reminder_schedule_id
        if schedule.active and schedule.company_id == company:
            return schedule
        return company.payment_reminder_schedule_id

    @api.model
    def _send_payment_reminders(self, documents_by_client):
        """Claim the steps due today (a reminder log per document and step,
        unique in the database), then email each client whose claim holds one
        digest and note the reminder on each reminded document.

        :return: the digests (``mail.message`` on the clients)
        """
        Schedule = self.env["invoice_client_pay.reminder.schedule"]
        todays = {}
        rows = []
        for client, documents in documents_by_client.items():
            for document in documents:
                company = document.company_id
                schedule = client._get_reminder_schedule(company)
                if not schedule:
                    continue
                if company not in todays:
                    todays[company] = Schedule._get_company_today(company)
                step, occurrence = schedule._get_due_step(
                    self._get_reminder_due_date(document), todays[company]
                )
                if step:
                    rows.append((document, step, occurrence, client))
        claimed = self.env["invoice_client_pay.reminder.log"]._claim(rows)
        steps_by_client = defaultdict(dict)
        for document, step, occurrence, client in rows:
            if (document._name, document.id, step.id, occurrence) in claimed:
                steps_by_client[client][document] = step
        if not steps_by_client:
            return self.env["mail.message"]
        self._ensure_reminder_tokens(
            [
                document
                for client in steps_by_client
                for document in documents_by_client[client]
            ]
        )
        messages = self.env["mail.message"]
        notes = defaultdict(dict)
        for client, steps in steps_by_client.items():
            messages |= client._post_payment_reminder(
                documents_by_client[client], steps
            )
            for document, step in steps.items():
                notes[document._name][document.id] = escape(
                    self.env._(
                        "Payment reminder sent to %(client)s (%(step)s).",
                        client=client.display_name,
                        step=step.name,
                    )
                )
        for model, bodies in notes.items():
            self.env[model].sudo().browse(list(bodies))._message_log_batch(bodies)
        return messages

    @api.model
    def _ensure_reminder_tokens(self, documents):
        """Give every document its portal token at once (one batched write),
        not one by one while their links are made."""
        by_model = defaultdict(list)
        for document in documents:
            by_model[document._name].append(document.id)
        for model, ids in by_model.items():
            for document in self.env[model].sudo().browse(ids):
                if not document.access_token:
                    document.access_token = str(uuid.uuid4())

    def _post_payment_reminder(self, documents, steps):
        """Email the client one digest: every unpaid item (amount, due date,
        still to pay, its own secure link) and one link paying them all per
        company and currency. Rendered with the template of the furthest step
        reached, in the client's language; queued, never sent at once.

        :param documents: the client's unpaid documents (sudoed)
        :param dict steps: {document: step} of the documents reminded today
        :return: the digest (``mail.message`` on the client)
        """
        self.ensure_one()
        step = max(
            steps.values(), key=lambda step: (step.offset_days, step.sequence, step.id)
        )
        company = next(iter(steps)).company_id
        # Rendered in the documents' company (``env.company`` in the template).
        template = step.mail_template_id.sudo().with_company(company)
        today = self.env["invoice_client_pay.reminder.schedule"]._get_company_today(
            company
        )
        render_context = {
            "reminder_company": company,
            "reminder_items": [
                self._prepare_reminder_item(document, steps.get(document), today)
                for document in documents
            ],
            "pay_all_links": self._get_pay_all_links(documents),
        }
        body = template._render_field(
            "body_html", self.ids, compute_lang=True, add_context=render_context
        )[self.id]
        subject = template._render_field(
            "subject", self.ids, compute_lang=True, add_context=render_context
        )[self.id]
        recipients = self._get_reminder_recipients(documents)
        return self.with_context(
            mail_notify_force_send=False, mail_post_autofollow=False
        ).message_post(
            body=body,
            subject=subject,
            partner_ids=recipients.ids,
            author_id=company.partner_id.id,
            email_from=company.email_formatted or None,
            message_type="comment",
            subtype_xmlid="mail.mt_comment",
            email_layout_xmlid=template.email_layout_xmlid
            or "mail.mail_notification_light",
            mail_auto_delete=template.auto_delete,
        )

    def _prepare_reminder_item(self, document, step, today):
        """One line of a digest (see the reminder templates)."""
        is_invoice = document._name == "account.move"
        date_due = self._get_reminder_due_date(document)
        return {
            "document": document,
            "name": document.name,
            "kind": self.env._("Invoice")
            if is_invoice
            else self.env._("Credit Request"),
            "date_due": date_due,
            "overdue": bool(date_due and date_due < today),
            "amount_total": document.amount_total if is_invoice else document.amount,
            "amount_residual": document.amount_residual,
            "currency": document.currency_id,
            "url": document.get_secure_payment_url(),
            "step": step,
        }

    def _get_reminder_recipients(self, documents):
        """The client, and the contacts its documents are addressed to, that
        have an email address."""
        self.ensure_one()
        partners = self
        for document in documents:
            partners |= document.partner_id
        return partners.filtered("email")

    # === BUSINESS METHODS - PAY-ALL LINKS === #

    @staticmethod
    def _get_pay_all_item(document):
        """``inv-<id>`` or ``cr-<id>``, as the pay-several checkout names them."""
        prefix = "inv" if document._name == "account.move" else "cr"
        return f"{prefix}-{document.id}"

    def _get_pay_all_links(self, documents):
        """One pay-all link per company and currency of ``documents``:
        ``[{"company", "currency", "total", "url"}]``."""
        self.ensure_one()
        groups = defaultdict(list)
        for document in documents:
            groups[document.company_id, document.currency_id].append(document)
        return [
            {
                "company": company,
                "currency": currency,
                "total": currency.round(
                    sum(document.amount_residual for document in group)
                ),
                "url": self._get_pay_all_url(group),
            }
            for (company, currency), group in groups.items()
        ]

    def _get_pay_all_signature(self, items, issued):
        self.ensure_one()
        return hmac(
            self.env(su=True),
            PAY_ALL_LINK_SCOPE,
            (
                self._name,
                self.id,
                ",".join(items),
                self.sudo().pay_all_link_token or "",
                int(issued),
            ),
        )

    def _get_pay_all_url(self, documents):
        """The absolute, signed link that opens the checkout of ``documents``
        (those still unpaid when it is opened) without logging in. Signed over
        the client, the documents and the client's pay-all token (revoking
        = a new token); it expires as the documents' payment links do."""
        self.ensure_one()
        if not self.sudo().pay_all_link_token:
            self.sudo().pay_all_link_token = str(uuid.uuid4())
        items = sorted(self._get_pay_all_item(document) for document in documents)
        issued = int(time.time())
        token = f"{issued}.{self._get_pay_all_signature(items, issued)}"
        return self.get_base_url() + self._get_pay_all_path(items, token)

    def _get_pay_all_path(self, items, token):
        self.ensure_one()
        return f"/my/unpaid/link/{self.id}?items={','.join(items)}&access_token={token}"

    def _check_pay_all_token(self, token, items, companies):
        """True only for a well-formed, untampered, unrevoked link, not expired
        in any of the documents' ``companies``."""
        self.ensure_one()
        Mixin = self.env["invoice_client_pay.payment.link.mixin"]
        if (
            not Mixin._is_payment_link_token(token)
            or not self.sudo().pay_all_link_token
        ):
            return False
        issued_str, __, signature = token.partition(".")
        issued = int(issued_str)
        if not consteq(signature, self._get_pay_all_signature(sorted(items), issued)):
            return False
        now = time.time()
        if issued > now + 300:  # Made in the future: not by us.
            return False
        days = [
            days
            for days in companies.sudo().mapped("payment_link_validity_days")
            if days
        ]
        return not days or now < issued + min(days) * 86400

    def _get_reminded_on(self, documents):
        """{document: "date"} of the documents' last reminders, for the portal."""
        dates = self.env["invoice_client_pay.reminder.log"]._get_last_reminder_dates(
            documents
        )
        return {
            document: format_date(self.env, dates[document._name, document.id])
            for document in documents
            if (document._name, document.id) in dates
        }
