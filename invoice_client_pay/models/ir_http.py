from werkzeug.exceptions import NotFound

from odoo import models
from odoo.http import request


class IrHttp(models.AbstractModel):
    _inherit = "ir.http"

    # === BUSINESS METHODS === #

    @classmethod
    def _handle_error(cls, exception):
        # A JSON-RPC "not found" (a wrong, expired or malformed link or token, a
        # document that does not exist) is a plain 404 leaking nothing: Odoo's
        # answer would carry the server's traceback (file paths, code).
        if isinstance(exception, NotFound) and (
            getattr(request.dispatcher, "routing_type", None) == "jsonrpc"
        ):
            return request.dispatcher._response(
                error={
                    "code": 404,
                    "message": "404: Not Found",
                    "data": {
                        "name": "werkzeug.exceptions.NotFound",
                        "message": "404 Not Found",
                        "arguments": [],
                        "context": {},
                        "debug": "",
                    },
                }
            )
        return super()._handle_error(exception)
