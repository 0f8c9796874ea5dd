-- How many labels each item has, kept by the store as it stores a label, so that the queue finds the next open item
-- through an index of the open items instead of counting the labels of every item before it.
ALTER TABLE items ADD COLUMN labelled INTEGER NOT NULL DEFAULT 0;
UPDATE items SET labelled = (SELECT COUNT(*) FROM labels l WHERE l.item_id = items.id);
CREATE INDEX items_open ON items (project_id, id) WHERE labelled < replicas;
