from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    auto_mark_invoices_paid = fields.Boolean(
        related="company_id.auto_mark_invoices_paid",
        readonly=False,
    )
    payment_link_validity_days = fields.Integer(
        related="company_id.payment_link_validity_days",
        readonly=False,
    )
    allow_partial_online_payment = fields.Boolean(
        related="company_id.allow_partial_online_payment",
        readonly=False,
    )
    auto_charge_max_attempts = fields.Integer(
        related="company_id.auto_charge_max_attempts",
        readonly=False,
    )
    auto_charge_retry_delay_hours = fields.Integer(
        related="company_id.auto_charge_retry_delay_hours",
        readonly=False,
    )
    payment_reminder_schedule_id = fields.Many2one(
        related="company_id.payment_reminder_schedule_id",
        readonly=False,
    )
    pending_payment_validity_days = fields.Integer(
        related="company_id.pending_payment_validity_days",
        readonly=False,
    )
