# One file per feature (the team splits the work by file): the classes that
# inherit the same model are not merged on purpose.
# pylint: disable=consider-merging-classes-inherited
from odoo import api, fields, models
from odoo.exceptions import ValidationError


class ResPartner(models.Model):
    _inherit = "res.partner"

    auto_charge_credit_requests = fields.Boolean(
        string="Auto-charge Credit Requests",
        help="Credit requests sent to this client are charged at once, off-session, "
        "with the saved payment method below; failed charges are retried on a "
        "capped schedule.",
    )
    auto_charge_token_id = fields.Many2one(
        comodel_name="payment.token",
        string="Payment Method to Charge",
        domain="[('partner_id', 'child_of', commercial_partner_id)]",
        help="The client's saved card or direct-debit mandate charged by the "
        "auto-charge.",
    )
    icp_payment_disputed = fields.Boolean(
        string="Disputed a Payment",
        help="The client disputed a payment with their bank (chargeback).",
    )

    # ------------------------------------------------------------
    # CONSTRAINT
    # ------------------------------------------------------------

    @api.constrains("auto_charge_credit_requests", "auto_charge_token_id")
    def _check_auto_charge_token(self):
        for partner in self:
            token = partner.sudo().auto_charge_token_id
            if partner.auto_charge_credit_requests and not token:
                raise ValidationError(
                    self.env._(
                        "Choose the saved payment method to charge for %s.",
                        partner.display_name,
                    )
                )
            if token and token.partner_id.commercial_partner_id != (
                partner.commercial_partner_id
            ):
                raise ValidationError(
                    self.env._(
                        "%(method)s is not a saved payment method of %(client)s.",
                        method=token.display_name,
                        client=partner.display_name,
                    )
                )

    # ------------------------------------------------------------
    # BUSINESS
    # ------------------------------------------------------------

    def _icp_match_refund(self, debits, preferred_credits):
        """Match refund debits with the client's credit: ``preferred_credits``
        (the refunded payment) first, then the rest, oldest first. What no
        credit covers stays open: the client owes it (negative balance)."""
        self.ensure_one()
        Line = self.env["account.move.line"]
        company = debits.company_id
        credits = Line.search(
            Line._client_credit_domain(self, company)
            + [("account_id", "in", debits.account_id.ids)]
        )
        (debits + credits)._lock_for_client_credit()
        preferred = preferred_credits.filtered(lambda line: not line.reconciled)
        if preferred:
            (debits + preferred).with_context(client_credit_apply=True).reconcile()
        debits = debits.filtered(lambda line: not line.reconciled)
        credits = credits.filtered(lambda line: not line.reconciled)
        if debits and credits:
            (debits + credits)._reconcile_client_credit()
