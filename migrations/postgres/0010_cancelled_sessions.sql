-- Why an exec was stopped before its end by something other than its script or its deadline
-- (status 'cancelled': its key was deactivated, expired or rotated out while it ran); NULL
-- for every other session.
ALTER TABLE sessions ADD COLUMN reason TEXT;
