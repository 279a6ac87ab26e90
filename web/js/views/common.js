// common.js - what the list views share: a filter form whose values live in
// the URL, and a keyset pager that loads the next page when its sentinel
// scrolls into view (or its button is pressed).
import * as api from '../api.js';
import { h, append } from '../dom.js';

// fields: [[name, label, 'text'|'select', options]]. Submitting puts the
// values in the URL; the view then renders from the URL.
export function filterForm(ctx, view, fields, extra = {}) {
  const inputs = fields.map(([name, label, type, options]) => {
    const id = `f-${name}`;
    const value = ctx.query.get(name) || '';
    const input = type === 'select'
      ? h('select', { id, name }, options.map((o) => h('option', { value: o, selected: o === value }, o || 'any')))
      : h('input', { id, name, type: 'text', value, autocomplete: 'off', spellcheck: 'false' });
    return h('div', { class: 'field' }, h('label', { for: id, text: label }), input);
  });
  const form = h('form', { class: 'filters', 'data-testid': `${view}-filters` }, inputs,
    h('div', { class: 'field buttons' }, h('button', { type: 'submit' }, 'Apply'),
      h('a', { class: 'button secondary', href: ctx.link(view) }, 'Clear')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const values = { ...extra };
    for (const [name] of fields) values[name] = form.elements[name].value.trim();
    ctx.go(ctx.link(view, '', values));
  });
  return form;
}

// Loads path's pages into onItems(items) as the user scrolls. Resolves once
// the first page is shown.
export async function pager(root, ctx, path, params, onItems, pageSize = 100) {
  let token = null;
  let busy = false;
  const more = h('button', { type: 'button', class: 'secondary more', 'data-testid': 'load-more' }, 'Load more');
  const sentinel = h('div', { class: 'sentinel', 'aria-hidden': 'true' });
  const status = h('p', { class: 'hint pager-status', role: 'status' });
  const foot = h('div', { class: 'pager' }, status, more, sentinel);
  const next = async () => {
    if (busy || !ctx.live()) return;
    busy = true;
    more.disabled = true;
    try {
      const page = await api.get(path, { ...params, page_size: pageSize, page_token: token || undefined });
      if (!ctx.live()) return;
      token = page.next_page_token;
      onItems(page.items || []);
      status.textContent = token ? '' : 'End of the list.';
      more.hidden = !token;
    } catch (e) {
      status.textContent = e.message;
    } finally {
      busy = false;
      more.disabled = false;
    }
  };
  more.addEventListener('click', next);
  append(root, foot);
  await next();
  const io = new IntersectionObserver((ents) => {
    if (!ctx.live()) { io.disconnect(); return; }
    if (token && ents.some((e) => e.isIntersecting)) next();
  }, { rootMargin: '400px' });
  io.observe(sentinel);
}
