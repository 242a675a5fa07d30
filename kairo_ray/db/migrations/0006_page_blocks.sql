-- 0006: the layout stage's blocks of every page, so a document's titles, paragraphs and tables
-- (rows and cells) can be shown or re-chunked without running OCR again.
-- blocks: [{"type", "box": [x0, y0, x1, y1], "text", "order", "rows"?: [[cell, ...], ...]}].
ALTER TABLE document_pages
    ADD COLUMN IF NOT EXISTS blocks jsonb NOT NULL DEFAULT '[]'::jsonb;
