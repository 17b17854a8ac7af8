from odoo import fields, models


class ResCompany(models.Model):
    _inherit = "res.company"

    auto_mark_invoices_paid = fields.Boolean(
        string="Automatically mark Invoices paid",
        help="When an invoice is posted, pay it from the client's credit, oldest "
        "credit first. Credit that arrives later pays the client's open invoices.",
    )
