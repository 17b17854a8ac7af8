from odoo import api, fields, models


class AccountPayFromCredit(models.TransientModel):
    _name = "account.pay.from.credit"
    _description = "Pay an Invoice From the Client's Credit"

    move_id = fields.Many2one(
        comodel_name="account.move",
        string="Invoice",
        required=True,
        readonly=True,
        ondelete="cascade",
    )
    partner_id = fields.Many2one(related="move_id.commercial_partner_id")
    company_id = fields.Many2one(related="move_id.company_id")
    currency_id = fields.Many2one(related="move_id.currency_id")
    available_credit = fields.Monetary(
        compute="_compute_available_credit",
        help="The client's credit, in the invoice's currency.",
    )
    amount_residual = fields.Monetary(
        string="Still to Pay",
        related="move_id.amount_residual",
    )
    amount = fields.Monetary(
        string="Amount to Pay",
        compute="_compute_amount",
        store=True,
        readonly=False,
        precompute=True,
    )

    # === COMPUTE METHODS === #

    @api.depends("move_id")
    def _compute_available_credit(self):
        for wizard in self:
            move = wizard.move_id
            wizard.available_credit = (
                move._get_client_credit_available_in_currency(
                    move._get_client_credit_lines()
                )
                if move
                else 0.0
            )

    @api.depends("available_credit", "amount_residual")
    def _compute_amount(self):
        for wizard in self:
            wizard.amount = min(wizard.available_credit, wizard.amount_residual)

    # === ACTION METHODS === #

    def action_confirm(self):
        self.ensure_one()
        self.move_id._pay_from_client_credit(self.amount)
        return {"type": "ir.actions.act_window_close"}
