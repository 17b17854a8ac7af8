from odoo import api, fields, models


class ReminderStep(models.Model):
    """One reminder of a schedule: ``offset_days`` from the due date (negative:
    before it), sent once per document; the last step may repeat every
    ``repeat_interval_days``. Each step has its own email template (on the
    client, ``res.partner``: one email lists all the client's unpaid items)."""

    _name = "invoice_client_pay.reminder.step"
    _description = "Payment Reminder Step"
    _order = "schedule_id, offset_days, sequence, id"

    schedule_id = fields.Many2one(
        comodel_name="invoice_client_pay.reminder.schedule",
        required=True,
        ondelete="cascade",
        index=True,
    )
    company_id = fields.Many2one(related="schedule_id.company_id", store=True)
    sequence = fields.Integer(default=10)
    name = fields.Char(compute="_compute_name")
    offset_days = fields.Integer(
        string="Days from Due Date",
        required=True,
        help="Negative: before the due date; 0: on it; positive: after it.",
    )
    repeat_interval_days = fields.Integer(
        string="Then Every (days)",
        help="Repeat this step every that many days after its first sending, as "
        "long as the document is unpaid (0: send it once). Meant for the last "
        "step.",
    )
    mail_template_id = fields.Many2one(
        comodel_name="mail.template",
        string="Email Template",
        required=True,
        domain="[('model', '=', 'res.partner')]",
        help="Rendered on the client, with the list of its unpaid items "
        "(reminder_items) and the links that pay them all (pay_all_links).",
    )

    _repeat_interval_positive = models.Constraint(
        "CHECK(repeat_interval_days >= 0)",
        "A reminder cannot repeat every negative number of days.",
    )

    # === COMPUTE METHODS === #

    @api.depends("offset_days", "repeat_interval_days")
    def _compute_name(self):
        for step in self:
            days = abs(step.offset_days)
            if step.offset_days < 0:
                name = self.env._("%s days before due", days)
            elif step.offset_days > 0:
                name = self.env._("%s days after due", days)
            else:
                name = self.env._("On the due date")
            if step.repeat_interval_days:
                name = self.env._(
                    "%(name)s, then every %(days)s days",
                    name=name,
                    days=step.repeat_interval_days,
                )
            step.name = name
