import re

from markupsafe import Markup

from odoo import models

# A signed payment link token inside a message body (see payment_link_mixin).
LINK_TOKEN_IN_BODY_RE = re.compile(r"access_token=[0-9]{1,12}\.[0-9a-f]{64}")


class MailMessage(models.Model):
    _inherit = "mail.message"

    # === BUSINESS METHODS === #

    def _portal_message_format(self, properties_names, options=None):
        # A visitor reading the portal chatter through a payment link sees the
        # messages' payment links (a sent request, a reminder) with the link
        # they came with: the chatter never hands out a link that lives longer.
        values_list = super()._portal_message_format(properties_names, options=options)
        token = (options or {}).get("token")
        if not self.env["invoice_client_pay.payment.link.mixin"]._is_payment_link_token(
            token
        ):
            return values_list
        replacement = f"access_token={token}"  # checked: digits, a dot and hex
        for values in values_list:
            body = values.get("body")
            # The body is HTML, or ``["markup", html]`` as the web client reads it.
            if isinstance(body, list) and len(body) == 2 and isinstance(body[1], str):
                values["body"] = [
                    body[0],
                    LINK_TOKEN_IN_BODY_RE.sub(replacement, body[1]),
                ]
            elif isinstance(body, str):
                values["body"] = Markup(
                    LINK_TOKEN_IN_BODY_RE.sub(replacement, str(body))
                )
        return values_list
