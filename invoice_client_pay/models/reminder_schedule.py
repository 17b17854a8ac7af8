from odoo import api, fields, models


class ReminderSchedule(models.Model):
    """When clients are reminded of what they still have to pay: steps placed
    relative to each document's due date (see ``invoice_client_pay.reminder.
    step``). Every company has one (``res.company.payment_reminder_schedule_id``);
    a client may follow another one of the same company, or opt out."""

    _name = "invoice_client_pay.reminder.schedule"
    _description = "Payment Reminder Schedule"
    _order = "company_id, name, id"
    _check_company_auto = True

    name = fields.Char(required=True, translate=True)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one(
        comodel_name="res.company",
        required=True,
        default=lambda self: self.env.company,
        index=True,
    )
    step_ids = fields.One2many(
        comodel_name="invoice_client_pay.reminder.step",
        inverse_name="schedule_id",
        string="Steps",
        copy=True,
    )
    skip_weekends = fields.Boolean(
        string="Not on Weekends",
        help="A reminder falling on a Saturday or a Sunday (in the company's time "
        "zone) is sent on the Monday. Off: reminders are sent every day.",
    )

    # === BUSINESS METHODS === #

    @api.model
    def _get_company_today(self, company):
        """Today's date where the company is (its partner's time zone; UTC when
        it has none)."""
        tz = company.partner_id.tz or "UTC"
        return fields.Datetime.context_timestamp(
            self.with_context(tz=tz), fields.Datetime.now()
        ).date()

    def _get_due_step(self, date_due, today):
        """The step a document due on ``date_due`` has reached ``today``, and
        its occurrence (how many times the repeating last step came round).

        Only the latest step reached counts: a document found late (posted
        after its due date, a run missed) gets today's reminder, not the ones
        it missed. On a weekend of a schedule that skips them, nothing: the
        Monday run sends it.

        :return: (step, occurrence), or (empty step, 0)
        """
        self.ensure_one()
        Step = self.env["invoice_client_pay.reminder.step"]
        if not date_due or (self.skip_weekends and today.weekday() >= 5):
            return Step, 0
        days = (today - date_due).days
        reached = self.step_ids.filtered(lambda step: step.offset_days <= days)
        if not reached:
            return Step, 0
        step = reached.sorted(lambda step: (step.offset_days, step.sequence, step.id))[
            -1
        ]
        occurrence = 0
        if step.repeat_interval_days:
            occurrence = (days - step.offset_days) // step.repeat_interval_days
        return step, occurrence
