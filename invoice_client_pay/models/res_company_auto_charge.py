# One file per feature (the team splits the work by file): the classes that
# inherit the same model are not merged on purpose.
# pylint: disable=consider-merging-classes-inherited
from odoo import fields, models


class ResCompany(models.Model):
    _inherit = "res.company"

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

    _auto_charge_max_attempts_positive = models.Constraint(
        "CHECK(auto_charge_max_attempts >= 1)",
        "A credit request is charged at least once.",
    )
    _auto_charge_retry_delay_positive = models.Constraint(
        "CHECK(auto_charge_retry_delay_hours >= 1)",
        "The retry delay must be at least one hour.",
    )
