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
