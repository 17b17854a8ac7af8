from odoo.tools import SQL


def lock_rows(records, reread=None):
    """Lock the rows of ``records`` until the end of the transaction, waiting
    for any other transaction holding them, then drop their cache so that they
    are read again.

    ``reread``: only the records among them to read again (default: all). A
    row this transaction has itself written is current already: re-reading it
    would only flush and fetch it again for nothing.

    The rows are always locked in id order: two transactions locking sets that
    overlap take the rows in the same order, so one waits for the other instead
    of both deadlocking. Under Odoo's repeatable-read transactions, a row that
    the other transaction changed and committed meanwhile makes the lock fail
    with a serialization error; Odoo then retries the whole request, which
    re-reads the fresh state.
    """
    if not records:
        return
    records.env.execute_query(
        SQL(
            "SELECT id FROM %s WHERE id IN %s ORDER BY id FOR UPDATE",
            SQL.identifier(records._table),
            tuple(records.ids),
        )
    )
    (records if reread is None else reread).invalidate_recordset()
