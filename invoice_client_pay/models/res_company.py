from odoo import Command, api, fields, models


class ResCompany(models.Model):
    _inherit = "res.company"

    auto_mark_invoices_paid = fields.Boolean(
        string="Automatically mark Invoices paid",
        help="When an invoice is posted, pay it from the client's credit, oldest "
        "credit first. Credit that arrives later pays the client's open invoices.",
    )
    payment_link_validity_days = fields.Integer(
        string="Payment Link Validity (days)",
        default=0,
        help="Days a payment link sent by email stays valid. 0: links never expire "
        "(they can still be revoked, document by document).",
    )
    allow_partial_online_payment = fields.Boolean(
        string="Allow Partial Online Payments",
        help="Clients may pay less than what is still to pay when they pay one "
        "invoice or credit request online (never more, never zero).",
    )
    auto_charge_max_attempts = fields.Integer(
        string="Auto-charge Attempts",
        default=4,
        help="How many times a credit request is charged automatically before the "
        "client must pay it themselves (first charge included).",
    )
    auto_charge_retry_delay_hours = fields.Integer(
        string="Auto-charge Retry Delay (hours)",
        default=24,
        help="Delay before the first retry of a failed charge; each later retry "
        "waits twice as long as the one before.",
    )
    payment_reminder_schedule_id = fields.Many2one(
        comodel_name="invoice_client_pay.reminder.schedule",
        string="Payment Reminders",
        domain="[('company_id', '=', id)]",
        help="When clients are reminded of their unpaid invoices and credit "
        "requests. Empty: no reminders.",
    )
    pending_payment_validity_days = fields.Integer(
        string="Pending Payment Window (days)",
        default=10,
        help="Days a pending payment (a bank transfer the client announced, a "
        "direct debit clearing) counts as money on its way, from its last change "
        "of state. After that it no longer holds back Take Payment nor the "
        "auto-charge.",
    )

    _payment_link_validity_days_positive = models.Constraint(
        "CHECK(payment_link_validity_days >= 0)",
        "The payment link validity cannot be negative.",
    )
    _auto_charge_max_attempts_positive = models.Constraint(
        "CHECK(auto_charge_max_attempts >= 1)",
        "A credit request is charged at least once.",
    )
    _pending_payment_validity_days_positive = models.Constraint(
        "CHECK(pending_payment_validity_days >= 1)",
        "A pending payment counts as on its way for at least one day.",
    )
    _auto_charge_retry_delay_positive = models.Constraint(
        "CHECK(auto_charge_retry_delay_hours >= 1)",
        "The retry delay must be at least one hour.",
    )

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):
        companies = super().create(vals_list)
        companies._create_default_reminder_schedules()
        return companies

    # === BUSINESS METHODS === #

    def _create_default_reminder_schedules(self):
        """Every company reminds its clients 3 days before the due date, on it,
        7 days after, then every 14 days (each step its own email)."""
        companies = self or self.sudo().search(
            [("payment_reminder_schedule_id", "=", False)]
        )
        steps = [
            (-3, 0, "invoice_client_pay.mail_template_reminder_before_due"),
            (0, 0, "invoice_client_pay.mail_template_reminder_due"),
            (7, 0, "invoice_client_pay.mail_template_reminder_overdue"),
            (21, 14, "invoice_client_pay.mail_template_reminder_still_overdue"),
        ]
        templates = [
            self.env.ref(xmlid, raise_if_not_found=False) for __, __, xmlid in steps
        ]
        if not all(templates):
            return  # Installing: the data file calls this once they exist.
        for company in companies.sudo().filtered(
            lambda company: not company.payment_reminder_schedule_id
        ):
            company.payment_reminder_schedule_id = self.env[
                "invoice_client_pay.reminder.schedule"
            ].create(
                {
                    "name": self.env._("Payment Reminders"),
                    "company_id": company.id,
                    "step_ids": [
                        Command.create(
                            {
                                "sequence": index,
                                "offset_days": offset,
                                "repeat_interval_days": repeat,
                                "mail_template_id": template.id,
                            }
                        )
                        for index, ((offset, repeat, __), template) in enumerate(
                            zip(steps, templates, strict=True)
                        )
                    ],
                }
            )
