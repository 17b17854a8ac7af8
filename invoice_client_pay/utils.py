from collections import defaultdict
from contextlib import contextmanager

from odoo.fields import Domain
from odoo.orm.registry import TriggerTree
from odoo.tools import SQL


def lock_rows(records):
    """Lock the rows of ``records`` until the end of the transaction, waiting
    for any other transaction holding them, then drop their cache so that they
    are read again.

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
    records.invalidate_recordset()


def fetch_one2many_in_full(records, *field_names):
    """Read the one2many fields ``field_names`` (of one comodel) of
    ``records`` where the cache lacks them, with all the fields of the
    records they hold, in one query.

    The ORM reads each one2many's ids alone, one query per field, then the
    records' fields the first time one is used: a query more. Only values
    missing from the cache are stored, so pending updates stay as they are
    (as the ORM's own reads do)."""
    env = records.env
    fields = [records._fields[name] for name in field_names]
    comodel_name = fields[0].comodel_name
    assert all(
        field.type == "one2many"
        and field.comodel_name == comodel_name
        and not field.domain
        and not field.context
        for field in fields
    ), fields
    unread = {}
    for field in fields:
        cache = field._get_cache(env)
        ids = [id_ for id_ in records._ids if id_ and id_ not in cache]
        if ids:
            unread[field] = records.browse(ids)
    if not unread:
        return
    children = (
        env[comodel_name]
        .with_context(active_test=False)
        .search_fetch(
            Domain.OR(
                Domain(field.inverse_name, "in", parents.ids)
                for field, parents in unread.items()
            )
        )
    )
    for field, parents in unread.items():
        children_by_parent = defaultdict(list)
        for child in children:
            children_by_parent[child[field.inverse_name].id].append(child.id)
        field._insert_cache(
            parents, [tuple(children_by_parent[id_]) for id_ in parents._ids]
        )


def search_locked(model, domain):
    """``model.search_fetch(domain)`` with its rows locked by the same query,
    in id order as ``lock_rows`` does: one query instead of a search, a lock
    and the read of the records found.

    Unlike ``lock_rows``, nothing is dropped from the cache. Odoo's
    transactions are repeatable reads: a row that another transaction changed
    since this one began cannot be locked (the lock fails with a serialization
    error and Odoo retries the request), so the rows locked are exactly as this
    transaction sees them, cache included. Dropping them would cost more than
    the reads: the ORM then also drops every journal entry's items from the
    cache (the inverse of each many2one dropped).
    """
    query = model._search(domain, order="id")
    if query.is_empty():
        return model.browse()
    return model._fetch_query(
        _LockingQuery(query), model._determine_fields_to_fetch(None)
    )


class _LockingQuery:
    """``query``, whose SELECT also locks the rows of its table (what
    ``search_locked`` hands to the ORM's ``_fetch_query``)."""

    def __init__(self, query):
        self._query = query

    def __getattr__(self, name):
        return getattr(self._query, name)

    def select(self, *args):
        return SQL(
            "%s FOR UPDATE OF %s",
            self._query.select(*args),
            SQL.identifier(self._query.table),
        )


@contextmanager
def _cursor_cache_entry(cr, key):
    """An empty dict in ``cr.cache[key]`` until the outermost block on that key
    ends (an inner block shares it)."""
    if key in cr.cache:
        yield
        return
    cr.cache[key] = {}
    try:
        yield
    finally:
        del cr.cache[key]


# The cursor's cache entry holding the inverse searches answered while one
# matching paid from credit propagates (see account.partial.reconcile's
# ``modified``).
PROPAGATION_SEARCHES = "invoice_client_pay.propagation_searches"


def propagation_searches_remembered(cr):
    """Answer each of the ORM's inverse searches once until the block ends.

    Propagating a new matching, the ORM walks the fields depending on it down
    every dependency path, and finds the records of each step with a search
    ``[(field, "in", ids)]`` ordered by id. An invoice's payment state and its
    payments' state depend on each other, through the searchable
    ``reconciled_payment_ids`` and ``reconciled_invoice_ids``, so the walk goes
    round that loop on many paths and asks the same searches again and again,
    each computing those fields anew. The walk writes nothing (it only marks
    fields to compute), so within it the first answer stands, unless the field
    searched is one the walk marked to compute (see ``remembered_search``).
    """
    return _cursor_cache_entry(cr, PROPAGATION_SEARCHES)


# The cursor's cache entry holding the groups of journal items that the
# credit application numbered in its current run (see
# ``matching_groups_remembered``).
MATCHING_GROUPS = "invoice_client_pay.matching_groups"


def matching_groups_remembered(cr):
    """Remember, until the block ends, the items of each matching number the
    credit application gives (see account.partial.reconcile's
    ``_update_matching_number``).

    Odoo's reconciliation numbers the groups of items joined by matchings,
    then asks the database which items hold each number
    (``_reconciled_by_number``). A group numbered is whole: it was read with
    every matching of its items, and a number belongs to one group only (the
    smallest id of its matchings, or its full reconciliation). Within the
    block, where every number given is remembered, the answer is known."""
    return _cursor_cache_entry(cr, MATCHING_GROUPS)


def remember_matching_groups(cr, line_ids, numbered):
    """Record the items of each matching number just given (``numbered``,
    {matching number: item ids}), in a block of
    ``matching_groups_remembered``; forget the groups the items renumbered
    (``line_ids``, which may have lost their number) were in."""
    groups = cr.cache.get(MATCHING_GROUPS)
    if groups is None:
        return
    line_ids = set(line_ids)
    for matching_number in [
        number for number, ids in groups.items() if not line_ids.isdisjoint(ids)
    ]:
        del groups[matching_number]
    groups.update((number, tuple(ids)) for number, ids in numbered.items())


def remembered_matching_groups(cr, matching_numbers):
    """{matching number: item ids} for ``matching_numbers``, if all were
    given in the current block of ``matching_groups_remembered``; else
    ``None``."""
    groups = cr.cache.get(MATCHING_GROUPS)
    if groups is None or not all(number in groups for number in matching_numbers):
        return None
    return {number: groups[number] for number in matching_numbers}


def remembered_search(records, domain, offset, limit, order, search):
    """``search(domain, ...)``: answered once per block of
    ``propagation_searches_remembered`` when it is one of the ORM's inverse
    searches; as usual otherwise."""
    answers = records.env.cr.cache.get(PROPAGATION_SEARCHES)
    condition = domain[0] if isinstance(domain, list) and len(domain) == 1 else None
    if (
        answers is None
        or offset
        or limit is not None
        or order != "id"
        or not isinstance(condition, (list, tuple))
        or len(condition) != 3
        or condition[1] != "in"
        or not isinstance(condition[2], (list, tuple))
        # A stored field the walk marked to compute: Odoo's search computes
        # it first, and its answer may change; only Odoo's own search knows.
        or records.env.transaction.tocompute.get(records._fields.get(condition[0]))
    ):
        return search(domain, offset=offset, limit=limit, order=order)
    key = (
        records._name,
        condition[0],
        tuple(condition[2]),
        records.env.su,
        records.env.context.get("active_test", True),
    )
    if key not in answers:
        found = _records_found(records, condition)
        if found is None:
            found = _related_records_found(records, condition)
        answers[key] = search(domain, order=order)._ids if found is None else found
    return records.browse(answers[key])


def _related_records_found(records, condition):
    """The records whose stored related many2one ``field = parent.target``
    (as a journal item's payment, its entry's originating payment) is in the
    ids of the condition: the children, through the one2many inverse of
    ``parent``, of the parents whose ``target`` is in them. That is the
    definition of the related field, and the walk asks the parents' search
    for itself anyway (answered once): one query fewer. None otherwise."""
    field = records._fields.get(condition[0])
    if not (field and field.store and field.type == "many2one" and field.related):
        return None
    path = field.related.split(".")
    parent = records._fields.get(path[0])
    if len(path) != 2 or not (parent and parent.store and parent.type == "many2one"):
        return None
    inverse = next(
        (
            inverse
            for inverse in records.pool.field_inverses[parent]
            if inverse.type == "one2many" and not inverse.domain
        ),
        None,
    )
    if inverse is None:
        return None
    parents = records.env[parent.comodel_name].search(
        [(path[1], "in", list(condition[2]))], order="id"
    )
    return tuple(sorted(parents[inverse.name]._ids))


def _records_found(records, condition):
    """The ids a condition on a searchable computed field stands for, when its
    search method names them (``[("id", "in", ids)]``, as those of
    ``reconciled_payment_ids`` and ``reconciled_invoice_ids`` do), for the
    walk's own superuser search with archived records included: the records
    of computed relations, which exist, ordered by id. The ORM would ask the
    database for those very ids. None otherwise."""
    field = records._fields.get(condition[0])
    if (
        field is None
        or field.store
        or not field.search
        or not records.env.su
        or records.env.context.get("active_test", True)
    ):
        return None
    domain = field.determine_domain(records, condition[1], condition[2])
    if not (isinstance(domain, list) and len(domain) == 1):
        return None
    name, operator, ids = domain[0]
    if name != "id" or operator != "in" or not isinstance(ids, (list, tuple)):
        return None
    return tuple(sorted(set(ids)))


# The registry's attribute holding {fields: (their trigger trees, the fields
# not stored computed in them, {those with cached values: merged tree})}.
MERGED_TRIGGER_TREES = "_invoice_client_pay_merged_trigger_trees"


def merged_trigger_tree(records, fields):
    """The tree ``BaseModel._modified`` walks when ``fields`` of ``records``
    change: ``registry.get_trigger_tree(fields, select)``, remembered.

    The ORM merges the trigger trees of the fields at each change, keeping
    the stored computed fields and those that have values in the cache (the
    others need no invalidating). A new matching changes all its fields: 275
    nodes merged anew each time. The merge depends only on the fields' trees
    (which the registry keeps) and on which of the fields that are not stored
    have cached values: the same answer is given for the same of those.
    """
    pool = records.pool
    trees = [
        pool.get_field_trigger_tree(field)
        for field in fields
        if field in pool._field_triggers
    ]
    by_fields = pool.__dict__.setdefault(MERGED_TRIGGER_TREES, {})
    key = tuple(fields)
    known = by_fields.get(key)
    # The registry rebuilds the trees when its models change (a module
    # installed): those of another build never match.
    if (
        known is None
        or len(known[0]) != len(trees)
        or any(tree is not known_tree for tree, known_tree in zip(trees, known[0]))
    ):
        not_stored = {
            field
            for tree in trees
            for node in tree.depth_first()
            for field in node.root
            if not (field.compute and field.store)
        }
        known = by_fields[key] = (trees, tuple(not_stored), {})
    trees, not_stored, merged = known
    env = records.env
    cached = frozenset(field for field in not_stored if field._get_all_cache_ids(env))
    tree = merged.get(cached)
    if tree is None:
        tree = merged[cached] = TriggerTree.merge(
            trees, lambda field: (field.compute and field.store) or field in cached
        )
    return tree
