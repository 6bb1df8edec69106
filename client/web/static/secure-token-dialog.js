// <secure-token-dialog page="/stream/ID">: the inline secure token dialog of
// the dashboard, as one plain ES module (no framework, no build step).
//
// It shows what the token-dialogs gateway answers and decides nothing
// itself: the form (fields, labels, hints, limits, target choices, lifetime
// choices, defaults) comes from GET /api/form, every problem from
// POST /api/validate, the Secure Token Overview and the security config
// snippets from POST /api/tokens and POST /api/decode, the token list from
// GET /api/tokens. Everything is put on the page as text (textContent),
// never as HTML. State-changing calls carry the CSRF token the form came
// with.
//
// Events: "secure-token-created" (detail: the overview) after a create,
// "secure-token-ready" once the dialog is painted.

const API = '/api';
let instances = 0;

// An element with attributes (strings; booleans toggle) and children
// (nodes, or strings as text nodes).
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

class ApiFailure extends Error {
  constructor(status, error) {
    super(error && error.message ? error.message : `HTTP ${status}`);
    this.status = status;
    this.code = error ? error.code : '';
    this.problems = (error && error.problems) || [];
  }
}

class SecureTokenDialog extends HTMLElement {
  connectedCallback() {
    if (this.started) return;
    this.started = true;
    this.uid = `td${++instances}`;
    this.csrf = '';
    this.pages = [''];  // page tokens of the token list, for "Previous"
    this.build();
    this.load();
  }

  id(name) { return `${this.uid}-${name}`; }

  build() {
    this.replaceChildren();
    this.alertBox = el('div', { class: 'td-alert', role: 'alert', 'aria-live': 'assertive' });
    this.statusBox = el('div', { class: 'td-status', role: 'status', 'aria-live': 'polite' });
    this.heading = el('h2', { tabindex: '-1' }, 'Secure Token');
    this.formPanel = el('section', { class: 'td-panel', 'aria-labelledby': this.id('h') });
    this.heading.id = this.id('h');
    this.formPanel.append(this.heading, el('p', { class: 'td-hint' }, 'Loading…'));
    this.overviewPanel = el('section', { class: 'td-panel td-result', hidden: true });
    this.decodePanel = el('section', { class: 'td-panel' });
    this.listPanel = el('section', { class: 'td-panel' });
    this.append(this.alertBox, this.statusBox, this.formPanel, this.overviewPanel,
                this.decodePanel, this.listPanel);
  }

  async call(method, path, body) {
    const init = { method, credentials: 'same-origin', headers: {} };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.headers['X-CSRF-Token'] = this.csrf;
      init.body = JSON.stringify(body);
    }
    const response = await fetch(API + path, init);
    let json = null;
    try { json = await response.json(); } catch (e) { json = null; }
    if (!response.ok) throw new ApiFailure(response.status, json && json.error);
    return json;
  }

  announce(text) { this.statusBox.textContent = text; }
  alert(text) { this.alertBox.textContent = text; }

  async load() {
    const started = performance.now();
    const page = this.getAttribute('page') || '/secure/token';
    this.page = page;
    try {
      this.dialog = await this.call('GET', `/form?page=${encodeURIComponent(page)}`);
    } catch (e) {
      this.formPanel.replaceChildren(el('h2', {}, 'Secure Token'));
      this.alert(`The token dialog could not be loaded: ${e.message}`);
      return;
    }
    this.csrf = this.dialog.csrf_token;
    this.fields = Object.fromEntries(this.dialog.fields.map((f) => [f.name, f]));
    if (this.dialog.organization.enabled) this.renderForm(); else this.renderUpgrade();
    this.renderDecode();
    this.renderList();
    requestAnimationFrame(() => {
      this.firstPaintMs = performance.now() - started;
      performance.mark('secure-token-dialog-painted');
      this.setAttribute('data-ready', 'true');
      this.dispatchEvent(new CustomEvent('secure-token-ready', { bubbles: true }));
    });
    this.loadTokens('');
  }

  // The "Upgrade needed" state: no form that would fail on submit.
  renderUpgrade() {
    const org = this.dialog.organization;
    this.heading.textContent = this.dialog.title;
    this.formPanel.classList.add('td-upgrade');
    this.formPanel.setAttribute('data-state', 'upgrade-needed');
    this.formPanel.replaceChildren(
      this.heading,
      el('p', { class: 'td-package' }, 'secure: ', el('strong', {}, org.state)),
      el('p', {}, org.message));
  }

  // One labelled input with its hint and problem slots.
  field(name, { control, labelText } = {}) {
    const f = this.fields[name];
    const input = control || el('input', {
      type: 'text', id: this.id(name), name, autocomplete: 'off',
      placeholder: f.placeholder || false, maxlength: f.max_length || false,
    });
    input.id = this.id(name);
    const hint = f.hint ? el('p', { class: 'td-hint', id: this.id(`${name}-hint`) }, f.hint) : null;
    const problem = el('p', { class: 'td-problem', id: this.id(`${name}-problem`), hidden: true });
    input.setAttribute('aria-describedby', [hint && hint.id, problem.id].filter(Boolean).join(' '));
    const label = el('label', { for: input.id }, labelText || f.label,
                     f.optional ? el('span', { class: 'td-hint' }, ' (optional)') : null);
    const box = el('div', { class: 'td-field', 'data-field': name }, label, input, hint, problem);
    this.inputs[name] = input;
    this.problemSlots[name] = problem;
    return box;
  }

  renderForm() {
    const d = this.dialog;
    this.inputs = {};
    this.problemSlots = {};
    this.heading.textContent = d.title;
    const form = el('form', { novalidate: true, 'aria-labelledby': this.heading.id });

    // Target: a radio group, preselected by the gateway.
    const targetProblem = el('p', { class: 'td-problem', id: this.id('target-problem'), hidden: true });
    const target = el('fieldset', { class: 'td-field', 'data-field': 'target',
                                    'aria-describedby': targetProblem.id },
                      el('legend', {}, this.fields.target.label));
    this.targetRadios = d.target_options.map((o) => {
      const radio = el('input', { type: 'radio', name: this.id('target'), value: o.value,
                                  id: this.id(`target-${o.value}`), checked: o.selected });
      target.append(el('label', { class: 'td-choice', for: radio.id }, radio, o.label));
      return radio;
    });
    target.append(targetProblem);
    this.problemSlots.target = targetProblem;
    this.inputs.target = this.targetRadios[0];
    const group = this.field('stream_group_id');
    this.inputs.stream_group_id.value = d.defaults.stream_group_id;
    const names = this.field('stream_names');
    this.targetBoxes = { stream_group_id: group, stream_names: names };

    // Token lifetime: presets, a custom value or an explicit expiry.
    const choice = el('select', { name: 'lifetime_choice' });
    for (const c of d.lifetime_choices) {
      choice.append(el('option', { value: `${c.kind}:${c.value}`, selected: c.selected }, c.label));
    }
    const lifetimeBox = this.field('lifetime', { control: choice, labelText: d.lifetime_label });
    this.lifetimeChoice = choice;
    const custom = el('input', { type: 'text', id: this.id('lifetime-custom'), autocomplete: 'off',
                                 placeholder: this.fields.lifetime.placeholder });
    this.customBox = el('div', { class: 'td-field', hidden: true },
                        el('label', { for: custom.id }, d.lifetime_choices.find((c) => c.kind === 'custom').label), custom);
    custom.setAttribute('aria-describedby', this.id('lifetime-hint'));
    this.customLifetime = custom;
    lifetimeBox.insertBefore(this.customBox, lifetimeBox.querySelector('.td-hint'));
    this.expiresBox = this.field('expires');
    this.expiresBox.hidden = true;

    form.append(target, group, names, lifetimeBox, this.expiresBox,
                this.field('not_before'), this.field('client_ip'), this.field('domain'),
                this.field('user_id'), this.field('tag'));
    const formProblem = el('p', { class: 'td-problem', id: this.id('form-problem'), hidden: true });
    this.problemSlots.form = formProblem;
    const check = el('button', { type: 'button', class: 'td-check' }, 'Check');
    const create = el('button', { type: 'submit', class: 'td-create' }, 'Create new token');
    form.append(formProblem, el('div', { class: 'td-actions' }, check, create));
    this.formPanel.replaceChildren(this.heading, form);
    this.form = form;

    for (const r of this.targetRadios) r.addEventListener('change', () => this.syncVisibility());
    choice.addEventListener('change', () => this.syncVisibility());
    check.addEventListener('click', () => this.check());
    form.addEventListener('submit', (e) => { e.preventDefault(); this.create(); });
    this.syncVisibility();
  }

  syncVisibility() {
    const target = this.targetValue();
    for (const [name, box] of Object.entries(this.targetBoxes)) {
      box.hidden = this.fields[name].shown_for_target !== target;
    }
    const kind = this.lifetimeChoice.value.split(':')[0];
    this.customBox.hidden = kind !== 'custom';
    this.expiresBox.hidden = kind !== 'expiry';
  }

  targetValue() {
    const checked = this.targetRadios.find((r) => r.checked);
    return checked ? checked.value : '';
  }

  // The form as typed, in the gateway's field names.
  formValue() {
    const [kind, preset] = this.lifetimeChoice.value.split(':');
    const text = (name) => this.inputs[name].value;
    return {
      target: this.targetValue(),
      stream_group_id: text('stream_group_id'),
      stream_names: text('stream_names'),
      lifetime: kind === 'preset' ? preset : kind === 'custom' ? this.customLifetime.value : '',
      expires: kind === 'expiry' ? text('expires') : '',
      not_before: text('not_before'),
      client_ip: text('client_ip'),
      domain: text('domain'),
      user_id: text('user_id'),
      tag: text('tag'),
    };
  }

  clearProblems() {
    for (const [name, slot] of Object.entries(this.problemSlots)) {
      slot.hidden = true;
      slot.textContent = '';
      const input = name === 'lifetime' ? null : this.inputs[name];
      if (input) input.removeAttribute('aria-invalid');
    }
    this.lifetimeChoice.removeAttribute('aria-invalid');
    this.customLifetime.removeAttribute('aria-invalid');
    this.alert('');
  }

  // The control a problem of `field` is about (focused first).
  controlOf(field) {
    if (field === 'target') return this.targetRadios.find((r) => r.checked) || this.targetRadios[0];
    if (field === 'lifetime') {
      return this.customBox.hidden ? this.lifetimeChoice : this.customLifetime;
    }
    return this.inputs[field] || null;
  }

  showProblems(problems) {
    this.clearProblems();
    let first = null;
    for (const p of problems) {
      const slot = this.problemSlots[p.field] || this.problemSlots.form;
      slot.hidden = false;
      slot.append(el('span', {}, p.message), ' ');
      const control = this.controlOf(p.field);
      if (control) control.setAttribute('aria-invalid', 'true');
      if (!first) first = control || slot;
    }
    const n = problems.length;
    this.alert(`${n} problem${n === 1 ? '' : 's'} in the form: ${problems.map((p) => p.message).join(' ')}`);
    if (first) {
      if (!first.hasAttribute('tabindex') && first === this.problemSlots.form) first.tabIndex = -1;
      first.focus();
    }
  }

  async check() {
    try {
      const result = await this.call('POST', '/validate', { page: this.page, form: this.formValue() });
      if (result.valid) {
        this.clearProblems();
        this.announce('The form has no problems. Nothing was created yet.');
      } else {
        this.showProblems(result.problems);
      }
      return result.valid;
    } catch (e) {
      this.failed(e);
      return false;
    }
  }

  async create() {
    this.announce('');
    if (!(await this.check())) return;
    try {
      const result = await this.call('POST', '/tokens', { page: this.page, form: this.formValue() });
      this.clearProblems();
      this.renderOverview(result.overview, 'Secure Token Overview');
      this.announce('Token created.');
      this.dispatchEvent(new CustomEvent('secure-token-created', { bubbles: true, detail: result.overview }));
      this.loadTokens('');
    } catch (e) {
      this.failed(e);
    }
  }

  failed(e) {
    if (e.code === 'upgrade_needed') {
      this.dialog.organization = { enabled: false, state: 'Upgrade needed', message: e.message };
      this.renderUpgrade();
    }
    if (e.problems && e.problems.length && this.form) this.showProblems(e.problems);
    else this.alert(e.message);
  }

  // "2026-01-15 13:00:00 GMT+1 (in 14 days)": absolute in the viewer's zone.
  when(iso, relative) {
    if (!iso) return '—';
    const local = new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'long' });
    return relative ? `${local} (${relative})` : local;
  }

  renderOverview(o, title) {
    const label = (name) => this.fields[name].label;
    const rows = [
      [label('target'), o.target || '—'],
      [label('not_before'), this.when(o.not_before, o.not_before_relative)],
      [label('expires'), this.when(o.expires_at, o.expires_relative)],
      [label('client_ip'), o.client_ip || 'any'],
      [label('domain'), o.domain || 'any'],
      [label('user_id'), o.user_id || '—'],
      [label('tag'), o.tag || '—'],
      ['Token ID', o.token_id || '—'],
      ['Key ID', o.key_id || '—'],
    ];
    if (o.state) rows.push(['State', o.state]);
    if (o.signature_valid !== undefined) rows.push(['Signature', o.signature_valid ? 'valid' : 'NOT valid']);
    const dl = el('dl', { class: 'td-overview' });
    for (const [k, v] of rows) dl.append(el('dt', {}, k), el('dd', {}, v));
    const heading = el('h2', { tabindex: '-1' }, title);
    const panel = this.overviewPanel;
    panel.classList.toggle('td-invalid', !o.security_config);
    panel.replaceChildren(heading, dl);
    if (o.problems && o.problems.length) {
      panel.append(el('h3', {}, 'Problems'), el('ul', {}, o.problems.map((p) => el('li', {}, p))));
    }
    if (!o.security_config) {
      panel.append(el('p', { class: 'td-problem', role: 'note' }, this.dialog.invalid_token_warning));
    } else {
      panel.append(this.snippet('Token (JWT)', o.jwt, 'td-jwt'));
      const sc = o.security_config;
      panel.append(el('h3', {}, 'Security config'),
                   el('p', { class: 'td-hint' }, 'Paste it into the group object or an entries element of your player configuration.'),
                   this.snippet('Group object (JavaScript)', sc.group.javascript, 'td-group-js'),
                   this.snippet('Group object (JSON)', sc.group.json, 'td-group-json'),
                   this.snippet('Entries element (JavaScript)', sc.entry.javascript, 'td-entry-js'),
                   this.snippet('Entries element (JSON)', sc.entry.json, 'td-entry-json'));
    }
    panel.hidden = false;
    heading.focus();
  }

  snippet(title, text, cls) {
    const code = el('pre', { class: `td-code ${cls}` }, text);
    const copy = el('button', { type: 'button', class: `td-copy ${cls}-copy` }, `Copy ${title}`);
    copy.addEventListener('click', () => this.copy(text, title));
    return el('div', { class: 'td-snippet' }, el('h4', {}, title), code, copy);
  }

  async copy(text, title) {
    try {
      await navigator.clipboard.writeText(text);
      this.announce(`Copied: ${title}.`);
    } catch (e) {
      this.alert(`Could not copy (${e.message}); select the text and copy it by hand.`);
    }
  }

  renderDecode() {
    const area = el('textarea', { id: this.id('jwt'), name: 'jwt', rows: '3', spellcheck: 'false' });
    const problem = el('p', { class: 'td-problem', id: this.id('jwt-problem'), hidden: true });
    area.setAttribute('aria-describedby', problem.id);
    const button = el('button', { type: 'submit', class: 'td-decode' }, 'Decode token');
    const form = el('form', { novalidate: true },
                    el('div', { class: 'td-field' }, el('label', { for: area.id }, 'Paste a token (JWT)'), area, problem),
                    el('div', { class: 'td-actions' }, button));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      problem.hidden = true;
      area.removeAttribute('aria-invalid');
      try {
        const result = await this.call('POST', '/decode', { jwt: area.value });
        this.alert('');
        this.renderOverview(result.overview, result.invalid ? 'Invalid token' : 'Secure Token Overview');
        this.announce(result.invalid ? 'The token is invalid.' : 'Token decoded.');
      } catch (err) {
        if (err.status === 400) {
          problem.textContent = err.problems.length ? err.problems[0].message : err.message;
          problem.hidden = false;
          area.setAttribute('aria-invalid', 'true');
          this.alert(problem.textContent);
          area.focus();
        } else {
          this.alert(err.message);
        }
      }
    });
    this.decodePanel.replaceChildren(el('h2', {}, 'Decode a token'), form);
  }

  renderList() {
    const tag = el('input', { type: 'text', id: this.id('filter-tag'), autocomplete: 'off' });
    const user = el('input', { type: 'text', id: this.id('filter-user'), autocomplete: 'off' });
    const state = el('select', { id: this.id('filter-state') }, el('option', { value: '' }, 'any'),
                     this.dialog.state_filters.map((s) => el('option', { value: s }, s)));
    const filters = el('form', { class: 'td-filters', novalidate: true },
                       el('div', { class: 'td-field' }, el('label', { for: tag.id }, this.fields.tag.label), tag),
                       el('div', { class: 'td-field' }, el('label', { for: user.id }, this.fields.user_id.label), user),
                       el('div', { class: 'td-field' }, el('label', { for: state.id }, 'State'), state),
                       el('div', { class: 'td-actions' }, el('button', { type: 'submit' }, 'Filter')));
    filters.addEventListener('submit', (e) => { e.preventDefault(); this.pages = ['']; this.loadTokens(''); });
    this.filterInputs = { tag, user, state };
    this.tokenTable = el('table', { class: 'td-tokens', tabindex: '-1' });
    this.pager = el('div', { class: 'td-actions' });
    this.confirmBox = el('div', { class: 'td-confirm', hidden: true });
    const title = this.dialog.stream_id ? `Tokens of stream ${this.dialog.stream_id}` : 'Tokens of the organisation';
    this.listPanel.replaceChildren(el('h2', {}, title), filters, this.confirmBox, this.tokenTable, this.pager);
  }

  async loadTokens(pageToken) {
    const q = new URLSearchParams({
      page: this.page, tag: this.filterInputs.tag.value, user_id: this.filterInputs.user.value,
      state: this.filterInputs.state.value, page_token: pageToken,
    });
    try {
      const list = await this.call('GET', `/tokens?${q}`);
      this.renderTokens(list, pageToken);
    } catch (e) {
      this.alert(`The token list could not be loaded: ${e.message}`);
    }
  }

  renderTokens(list, pageToken) {
    const head = el('tr', {}, ['Token ID', 'Target', 'State', 'Expiry', 'User ID', 'Tag', ''].map((h) => el('th', { scope: 'col' }, h)));
    const rows = list.tokens.map((t) => {
      const action = t.revocable ? el('button', { type: 'button', class: 'td-revoke' }, 'Revoke') : '';
      if (action) {
        action.setAttribute('aria-label', `Revoke token ${t.token_id}`);
        action.addEventListener('click', () => this.askRevoke(t, action));
      }
      return el('tr', { 'data-token-id': t.token_id },
                el('td', {}, t.token_id), el('td', {}, t.target), el('td', { class: 'td-state' }, t.state),
                el('td', {}, this.when(t.expires_at, t.expires_relative)),
                el('td', {}, t.user_id), el('td', {}, t.tag), el('td', {}, action));
    });
    this.tokenTable.replaceChildren(el('caption', { class: 'td-hint' }, list.tokens.length ? 'Newest first' : 'No tokens yet'),
                                    el('thead', {}, head), el('tbody', {}, rows));
    const pager = [];
    const at = this.pages.indexOf(pageToken);
    if (at > 0) {
      const prev = el('button', { type: 'button' }, 'Previous page');
      prev.addEventListener('click', () => this.loadTokens(this.pages[at - 1]));
      pager.push(prev);
    }
    if (list.next_page_token) {
      const next = el('button', { type: 'button' }, 'Next page');
      next.addEventListener('click', () => {
        this.pages = this.pages.slice(0, at + 1).concat([list.next_page_token]);
        this.loadTokens(list.next_page_token);
      });
      pager.push(next);
    }
    this.pager.replaceChildren(...pager);
  }

  // Revoking asks first, next to the list; focus goes to the confirmation.
  askRevoke(token, opener) {
    const confirm = el('button', { type: 'button', class: 'td-confirm-revoke' }, 'Revoke');
    const cancel = el('button', { type: 'button' }, 'Cancel');
    this.confirmBox.replaceChildren(
      el('p', { role: 'alert' }, `Revoke token ${token.token_id}? Players using it stop playing. This cannot be undone.`),
      el('div', { class: 'td-actions' }, confirm, cancel));
    this.confirmBox.hidden = false;
    cancel.addEventListener('click', () => { this.confirmBox.hidden = true; opener.focus(); });
    confirm.addEventListener('click', async () => {
      try {
        const result = await this.call('POST', '/revoke', { token_id: token.token_id, reason: 'revoked in the token dialog' });
        this.confirmBox.hidden = true;
        this.announce(`Token ${result.token.token_id} is ${result.token.state}.`);
        await this.loadTokens(this.pages[this.pages.length - 1] || '');
        this.tokenTable.focus();
      } catch (e) {
        this.alert(e.message);
      }
    });
    confirm.focus();
  }
}

if (!customElements.get('secure-token-dialog')) {
  customElements.define('secure-token-dialog', SecureTokenDialog);
}

export { SecureTokenDialog };
