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

    _payment_link_validity_days_positive = models.Constraint(
        "CHECK(payment_link_validity_days >= 0)",
        "The payment link validity cannot be negative.",
    )
