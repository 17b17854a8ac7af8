from odoo import fields, models


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

    _payment_link_validity_days_positive = models.Constraint(
        "CHECK(payment_link_validity_days >= 0)",
        "The payment link validity cannot be negative.",
    )
    _auto_charge_max_attempts_positive = models.Constraint(
        "CHECK(auto_charge_max_attempts >= 1)",
        "A credit request is charged at least once.",
    )
    _auto_charge_retry_delay_positive = models.Constraint(
        "CHECK(auto_charge_retry_delay_hours >= 1)",
        "The retry delay must be at least one hour.",
    )
