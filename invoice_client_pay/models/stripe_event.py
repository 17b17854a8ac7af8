from odoo import fields, models


class StripeEvent(models.Model):
    """Stripe events already processed: a duplicate delivery or a replay of one
    of them is acknowledged and ignored."""

    _name = "invoice_client_pay.stripe.event"
    _description = "Processed Stripe Event"
    _order = "id desc"
    _log_access = False

    event_id = fields.Char(required=True, readonly=True)
    event_type = fields.Char(readonly=True)
    received_at = fields.Datetime(readonly=True)

    _event_id_unique = models.Constraint(
        "UNIQUE(event_id)", "A Stripe event is processed once."
    )
