#!/usr/bin/python3
"""Browser tests of the inline token dialog: headless Chromium (Debian's
chromium + chromium-driver, driven by python3-selenium) against the REAL
token-dialogs gateway and the REAL token-authority, both started here on
127.0.0.1 port 0 with a temporary data directory.

  browser_test.py --token-authority BIN --tokenctl BIN --token-dialogs BIN \
      --out DIR [--time-scale N] [unittest args]

Each test saves a screenshot of its final state as DIR/<test>.png and fails
on any console error of the page. The first paint of the dialog (the
'secure-token-dialog-painted' mark, from navigation start) is printed per
page, not asserted.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait
from selenium.webdriver.support.ui import Select

ARGS = None
ENV = {}
PAGES = ['/playout/{id}', '/stream/{id}', '/stream/{id}/code-snippets',
         '/stream/new/{id}', '/webcaster/{id}', '/secure/token']
XSS_TAG = '<script>window.__xss=1</script>'
XSS_USER = '"><img src=x onerror="window.__xss=2">\'quoted\''


def deadline(seconds):
    return seconds * ARGS.time_scale


def read_start_line(proc, what):
    """The first stdout line of `proc`, within a deadline."""
    end = time.monotonic() + deadline(30)
    line = b''
    os.set_blocking(proc.stdout.fileno(), False)
    while time.monotonic() < end:
        chunk = proc.stdout.readline()
        if chunk:
            line += chunk
            if line.endswith(b'\n'):
                return line.decode()
        elif proc.poll() is not None:
            break
        else:
            time.sleep(0.02)
    raise RuntimeError(f'{what} printed no start line: {line!r}')


def tokenctl(*args, key_file):
    out = subprocess.run(
        [ARGS.tokenctl, '--server', ENV['authority'], '--api-key-file',
         key_file, '--json', *args],
        capture_output=True, text=True, timeout=deadline(30), check=True)
    return json.loads(out.stdout)


def make_org(name, secure):
    admin = os.path.join(ENV['dir'], 'var', 'admin.key')
    args = ['admin', 'org', 'create', name] + ([] if secure else ['--no-secure'])
    org = tokenctl(*args, key_file=admin)
    key = tokenctl('admin', 'key', 'create', '--org', org['id'], '--role',
                   'issuer', key_file=admin)
    path = os.path.join(ENV['dir'], f'{name}.key')
    with open(path, 'w') as f:
        f.write(key['secret'])
    return path


def start_gateway(key_file):
    proc = subprocess.Popen(
        [ARGS.token_dialogs, '--listen', '127.0.0.1:0', '--authority',
         ENV['authority'], '--api-key-file', key_file],
        stdout=subprocess.PIPE, stderr=ENV['log'])
    ENV['procs'].append(proc)
    line = read_start_line(proc, 'token-dialogs')
    m = re.search(r'listening on (http://127\.0\.0\.1:\d+) ', line)
    if not m:
        raise RuntimeError(f'unexpected start line: {line!r}')
    return m.group(1)


def setUpModule():
    ENV['dir'] = tempfile.mkdtemp(prefix='ta-browser-')
    ENV['procs'] = []
    os.makedirs(ARGS.out, exist_ok=True)
    # The servers' call logs go to a file beside the screenshots.
    ENV['log'] = open(os.path.join(ARGS.out, 'servers.log'), 'wb')
    ta = subprocess.Popen(
        [ARGS.token_authority, '--listen', '127.0.0.1:0', '--data-dir',
         os.path.join(ENV['dir'], 'var')],
        stdout=subprocess.PIPE, stderr=ENV['log'])
    ENV['procs'].append(ta)
    m = re.search(r'listening on (\S+)', read_start_line(ta, 'token-authority'))
    ENV['authority'] = m.group(1)
    ENV['secure_key'] = make_org('secure-org', True)
    ENV['plain_key'] = make_org('plain-org', False)
    ENV['secure'] = start_gateway(ENV['secure_key'])
    ENV['plain'] = start_gateway(ENV['plain_key'])
    options = webdriver.ChromeOptions()
    for a in ['--headless=new', '--no-sandbox', '--disable-gpu',
              '--disable-dev-shm-usage', '--window-size=1280,1600',
              '--no-first-run', '--disable-extensions']:
        options.add_argument(a)
    options.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    ENV['driver'] = webdriver.Chrome(
        service=Service(shutil.which('chromedriver') or
                        '/usr/bin/chromedriver'),
        options=options)
    ENV['driver'].set_page_load_timeout(deadline(30))
    ENV['driver'].set_script_timeout(deadline(10))
    for base in (ENV['secure'], ENV['plain']):
        ENV['driver'].execute_cdp_cmd('Browser.grantPermissions', {
            'origin': base,
            'permissions': ['clipboardReadWrite', 'clipboardSanitizedWrite']})


def tearDownModule():
    if 'driver' in ENV:
        ENV['driver'].quit()
    for p in ENV.get('procs', []):
        p.terminate()
        try:
            p.wait(timeout=deadline(10))
        except subprocess.TimeoutExpired:
            p.kill()
    shutil.rmtree(ENV.get('dir', ''), ignore_errors=True)


class DialogBrowserTest(unittest.TestCase):

    def setUp(self):
        self.d = ENV['driver']
        self.d.get_log('browser')  # drop what earlier tests left

    def tearDown(self):
        os.makedirs(ARGS.out, exist_ok=True)
        self.d.save_screenshot(os.path.join(ARGS.out, f'{self._testMethodName}.png'))
        errors = [e for e in self.d.get_log('browser') if e['level'] == 'SEVERE']
        self.assertEqual(errors, [], 'console errors')

    # Helpers.
    def wait(self, condition, seconds=10):
        # The dialog re-renders lists and panels: an element found a moment
        # ago may be replaced; look again until the deadline.
        return WebDriverWait(
            self.d, deadline(seconds),
            ignored_exceptions=(NoSuchElementException,
                                StaleElementReferenceException)).until(condition)

    def open(self, path, base=None):
        self.d.get((base or ENV['secure']) + path)
        self.wait(lambda d: d.find_elements(
            By.CSS_SELECTOR, 'secure-token-dialog[data-ready]'))
        return self.d.find_element(By.TAG_NAME, 'secure-token-dialog')

    def field(self, name):
        return self.d.find_element(By.CSS_SELECTOR, f'[data-field="{name}"]')

    def input(self, name):
        return self.field(name).find_element(By.CSS_SELECTOR, 'input, select')

    def overview(self):
        """The overview's rows as {label: value}."""
        panel = self.wait(lambda d: d.find_element(By.CSS_SELECTOR, '.td-result:not([hidden])'))
        dts = panel.find_elements(By.CSS_SELECTOR, 'dl.td-overview dt')
        dds = panel.find_elements(By.CSS_SELECTOR, 'dl.td-overview dd')
        return {a.text: b.text for a, b in zip(dts, dds)}

    def clipboard(self):
        return self.d.execute_async_script(
            'const done = arguments[0];'
            'navigator.clipboard.readText().then(done, (e) => done("ERR " + e));')

    def active(self):
        return self.d.switch_to.active_element

    def issue(self, group, tag):
        out = tokenctl('issue', '--group', group, '--tag', tag,
                       key_file=ENV['secure_key'])
        return out['jwt'], out['token_id']

    def tab_to(self, predicate, limit=60):
        body = self.d.find_element(By.TAG_NAME, 'body')
        for _ in range(limit):
            if predicate(self.active()):
                return self.active()
            self.active().send_keys(Keys.TAB) if self.active() != body else body.send_keys(Keys.TAB)
        self.fail('could not reach the element with the Tab key')

    # The tests.
    def test_six_pages_open_with_their_defaults(self):
        for page in PAGES:
            path = page.format(id='pages-1')
            self.open(path)
            standalone = '{id}' not in page
            radio = self.d.find_element(By.CSS_SELECTOR, 'input[type=radio][value=stream_group]')
            self.assertTrue(radio.is_selected(), path)
            self.assertEqual(self.input('stream_group_id').get_attribute('value'),
                             '' if standalone else 'pages-1')
            self.assertEqual(Select(self.input('lifetime')).first_selected_option.text, '2 weeks')
            for el in self.d.find_elements(By.CSS_SELECTOR, 'secure-token-dialog input, secure-token-dialog select, secure-token-dialog textarea'):
                el_id = el.get_attribute('id')
                self.assertTrue(el_id, el.get_attribute('outerHTML'))
                labels = self.d.find_elements(By.CSS_SELECTOR, f'label[for="{el_id}"]')
                self.assertEqual(len(labels), 1, f'{path}: label of #{el_id}')
            paint = self.d.execute_script(
                "const m = performance.getEntriesByName('secure-token-dialog-painted');"
                "return m.length ? m[0].startTime : null;")
            self.assertIsNotNone(paint)
            print(f'first paint of the dialog on {path}: {paint:.1f} ms', flush=True)
            errors = [e for e in self.d.get_log('browser') if e['level'] == 'SEVERE']
            self.assertEqual(errors, [], f'console errors on {path}')
            self.d.save_screenshot(os.path.join(ARGS.out, 'page' + path.replace('/', '_') + '.png'))

    def test_validation_messages_appear_next_to_their_fields(self):
        self.open('/stream/val-1')
        Select(self.input('lifetime')).select_by_visible_text('Custom lifetime')
        self.d.find_element(By.CSS_SELECTOR, 'input[id$="lifetime-custom"]').send_keys('soon')
        self.input('not_before').send_keys('tomorrow')
        self.input('client_ip').send_keys('300.1.1.1')
        self.input('domain').send_keys('not a domain')
        self.d.find_element(By.CSS_SELECTOR, 'button.td-create').click()
        self.wait(lambda d: d.find_element(By.CSS_SELECTOR, '.td-alert').text)
        for name, words in [('lifetime', 'not a duration'), ('not_before', 'not a date'),
                            ('client_ip', 'IP address'), ('domain', 'Domain')]:
            problem = self.field(name).find_element(By.CSS_SELECTOR, '.td-problem')
            self.assertTrue(problem.is_displayed(), name)
            self.assertIn(words, problem.text)
        for name in ('stream_group_id', 'user_id', 'tag'):
            self.assertFalse(self.field(name).find_element(By.CSS_SELECTOR, '.td-problem').is_displayed())
        self.assertEqual(self.active().get_attribute('id'),
                         self.d.find_element(By.CSS_SELECTOR, 'input[id$="lifetime-custom"]').get_attribute('id'))
        self.assertEqual(self.input('domain').get_attribute('aria-invalid'), 'true')
        alert = self.d.find_element(By.CSS_SELECTOR, '.td-alert')
        self.assertEqual(alert.get_attribute('aria-live'), 'assertive')
        self.assertIn('4 problems', alert.text)
        self.assertFalse(self.d.find_element(By.CSS_SELECTOR, '.td-result').is_displayed())
        self.assertEqual(tokenctl('list', '--group', 'val-1', key_file=ENV['secure_key'])['tokens'], [])

    def test_create_shows_the_overview_and_snippets_and_copies_the_token(self):
        self.open('/stream/create-1')
        self.input('user_id').send_keys('viewer-1')
        self.input('tag').send_keys('launch')
        self.d.find_element(By.CSS_SELECTOR, 'button.td-create').click()
        rows = self.overview()
        self.assertEqual(rows['Target'], 'entire stream group create-1')
        self.assertEqual(rows['User ID'], 'viewer-1')
        self.assertEqual(rows['Tag'], 'launch')
        self.assertIn('in 14 days', rows['Expiry'])
        jwt = self.d.find_element(By.CSS_SELECTOR, 'pre.td-jwt').text
        self.assertEqual(jwt.count('.'), 2)
        for cls in ('td-group-js', 'td-group-json', 'td-entry-js', 'td-entry-json'):
            self.assertIn(jwt, self.d.find_element(By.CSS_SELECTOR, f'pre.{cls}').text.replace('\n', ''))
        self.assertIn('jwtoken', self.d.find_element(By.CSS_SELECTOR, 'pre.td-group-js').text)
        self.d.find_element(By.CSS_SELECTOR, 'button.td-jwt-copy').click()
        self.wait(lambda d: 'Copied' in d.find_element(By.CSS_SELECTOR, '.td-status').text)
        self.assertEqual(self.clipboard(), jwt)
        self.d.find_element(By.CSS_SELECTOR, 'button.td-group-json-copy').click()
        self.wait(lambda d: 'JSON' in d.find_element(By.CSS_SELECTOR, '.td-status').text)
        self.assertEqual(json.loads(self.clipboard())['security']['jwtoken'], jwt)
        decoded = tokenctl('decode', jwt, key_file=ENV['secure_key'])
        self.assertEqual(json.dumps(decoded).count(rows['Token ID']) > 0, True)
        # The list of the stream shows the new token.
        self.wait(lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-token-id="{rows["Token ID"]}"]'))

    def test_upgrade_needed_state(self):
        self.open('/stream/up-1', base=ENV['plain'])
        panel = self.d.find_element(By.CSS_SELECTOR, '[data-state="upgrade-needed"]')
        self.assertIn('Upgrade needed', panel.text)
        self.assertIn('contact us', panel.text)
        self.assertEqual(self.d.find_elements(By.CSS_SELECTOR, 'button.td-create'), [])

    def test_decode_of_a_good_and_a_tampered_token(self):
        jwt, _ = self.issue('dec-1', 'pasted')
        self.open('/stream/dec-1/code-snippets')
        area = self.d.find_element(By.CSS_SELECTOR, 'textarea[name=jwt]')
        area.send_keys(jwt)
        self.d.find_element(By.CSS_SELECTOR, 'button.td-decode').click()
        rows = self.overview()
        self.assertEqual(rows['Tag'], 'pasted')
        self.assertEqual(rows['Signature'], 'valid')
        self.assertTrue(self.d.find_elements(By.CSS_SELECTOR, 'pre.td-group-js'))
        sig = jwt.rsplit('.', 1)
        tampered = sig[0] + '.' + ('A' if sig[1][0] != 'A' else 'B') + sig[1][1:]
        area.clear()
        area.send_keys(tampered)
        self.d.find_element(By.CSS_SELECTOR, 'button.td-decode').click()
        self.wait(lambda d: d.find_element(By.CSS_SELECTOR, '.td-result h2').text == 'Invalid token')
        rows = self.overview()
        self.assertEqual(rows['Signature'], 'NOT valid')
        self.assertEqual(rows['State'], 'invalid')
        self.assertIn('does not verify', self.d.find_element(By.CSS_SELECTOR, '.td-result').text)
        self.assertEqual(self.d.find_elements(By.CSS_SELECTOR, '.td-result pre.td-code'), [])

    def test_revoke_from_the_list(self):
        _, token_id = self.issue('rev-1', 'to-revoke')
        self.open('/playout/rev-1')
        row = self.wait(lambda d: d.find_element(By.CSS_SELECTOR, f'tr[data-token-id="{token_id}"]'))
        self.assertEqual(row.find_element(By.CSS_SELECTOR, '.td-state').text, 'active')
        row.find_element(By.CSS_SELECTOR, 'button.td-revoke').click()
        confirm = self.d.find_element(By.CSS_SELECTOR, 'button.td-confirm-revoke')
        self.assertEqual(self.active(), confirm)
        self.assertIn(token_id, self.d.find_element(By.CSS_SELECTOR, '.td-confirm').text)
        confirm.click()
        self.wait(lambda d: d.find_element(
            By.CSS_SELECTOR, f'tr[data-token-id="{token_id}"] .td-state').text == 'revoked')
        self.assertEqual(self.d.find_elements(
            By.CSS_SELECTOR, f'tr[data-token-id="{token_id}"] button.td-revoke'), [])
        record = tokenctl('get', token_id, key_file=ENV['secure_key'])
        self.assertIn('revoked', json.dumps(record))

    def test_xss_payloads_render_as_text(self):
        self.open('/stream/xss-1')
        self.input('tag').send_keys(XSS_TAG)
        self.input('user_id').send_keys(XSS_USER)
        self.d.find_element(By.CSS_SELECTOR, 'button.td-create').click()
        rows = self.overview()
        self.assertEqual(rows['Tag'], XSS_TAG)
        self.assertEqual(rows['User ID'], XSS_USER)
        row = self.wait(lambda d: d.find_element(By.CSS_SELECTOR, 'tr[data-token-id]'))
        self.assertIn(XSS_TAG, row.text)
        # A typed value quoted in a problem message is text too.
        Select(self.input('lifetime')).select_by_visible_text('Custom lifetime')
        self.d.find_element(By.CSS_SELECTOR, 'input[id$="lifetime-custom"]').send_keys(
            '<img src=x onerror="window.__xss=3">')
        self.d.find_element(By.CSS_SELECTOR, 'button.td-create').click()
        problem = self.wait(lambda d: d.find_element(By.CSS_SELECTOR, '[data-field=lifetime] .td-problem:not([hidden])'))
        self.assertIn('<img', problem.text)
        self.assertEqual(self.d.find_elements(By.CSS_SELECTOR, 'secure-token-dialog img, secure-token-dialog script'), [])
        self.assertIsNone(self.d.execute_script('return window.__xss === undefined ? null : window.__xss;'))

    def test_keyboard_only(self):
        self.open('/webcaster/kb-1')
        self.d.find_element(By.TAG_NAME, 'body').click()
        domain = self.tab_to(lambda e: e.get_attribute('name') == 'domain')
        domain.send_keys('not a domain')
        domain.send_keys(Keys.ENTER)  # submits the form
        self.wait(lambda d: self.field('domain').find_element(By.CSS_SELECTOR, '.td-problem').is_displayed())
        self.assertEqual(self.active().get_attribute('name'), 'domain')  # the first problem
        self.active().send_keys(Keys.CONTROL, 'a')
        self.active().send_keys(Keys.DELETE)
        self.active().send_keys(Keys.TAB)
        tag = self.tab_to(lambda e: e.get_attribute('name') == 'tag')
        tag.send_keys('keyboard')
        create = self.tab_to(lambda e: 'td-create' in (e.get_attribute('class') or ''))
        create.send_keys(Keys.ENTER)
        rows = self.overview()
        self.assertEqual(rows['Tag'], 'keyboard')
        self.assertEqual(self.active().tag_name, 'h2')  # focus went to the overview
        copy = self.tab_to(lambda e: 'td-jwt-copy' in (e.get_attribute('class') or ''))
        copy.send_keys(Keys.ENTER)
        self.wait(lambda d: 'Copied' in d.find_element(By.CSS_SELECTOR, '.td-status').text)
        self.assertEqual(self.clipboard(), self.d.find_element(By.CSS_SELECTOR, 'pre.td-jwt').text)


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument('--token-authority', required=True)
    parser.add_argument('--tokenctl', required=True)
    parser.add_argument('--token-dialogs', required=True)
    parser.add_argument('--out', required=True)
    parser.add_argument('--time-scale', type=float, default=1)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == '__main__':
    main()
