from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    auto_mark_invoices_paid = fields.Boolean(
        related="company_id.auto_mark_invoices_paid",
        readonly=False,
    )
