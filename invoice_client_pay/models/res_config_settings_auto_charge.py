# One file per feature (the team splits the work by file): the classes that
# inherit the same model are not merged on purpose.
# pylint: disable=consider-merging-classes-inherited
from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    auto_charge_max_attempts = fields.Integer(
        related="company_id.auto_charge_max_attempts", readonly=False
    )
    auto_charge_retry_delay_hours = fields.Integer(
        related="company_id.auto_charge_retry_delay_hours", readonly=False
    )
