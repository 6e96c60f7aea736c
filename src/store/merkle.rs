//! The log as a Merkle tree, as RFC 6962 (Certificate Transparency) defines one: the leaves are
//! the events' hashes in position order, so a tree head (size, root) commits to every event up to
//! that size, and with them to every member's chain head. An inclusion proof shows one event is
//! under a head; a consistency proof shows a later head extends an earlier one (nothing before it
//! was removed or rewritten).
//!
//! - [`leaf_hash`], [`node_hash`]: RFC 6962 §2.1's domain-separated hashes.
//! - [`Frontier`]: the compact range of an append-only tree (one subtree root per set bit of
//!   its size), updated in O(1) amortised per leaf; what the writer keeps.
//! - [`NodeSource`]: where a prover reads leaves and stored subtree roots; [`root`],
//!   [`inclusion_proof`] and [`consistency_proof`] build on it; [`verify_inclusion`] and
//!   [`verify_consistency`] need nothing but the proof.

use sha2::{Digest, Sha256};

use super::StoreError;

/// A node's hash.
pub type Hash = [u8; 32];

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// A leaf's hash: SHA-256(0x00 ‖ data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// An interior node's hash: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The compact range of a tree: the roots of its perfect subtrees, largest first (one per set
/// bit of its size).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    nodes: Vec<Hash>,
}

impl Frontier {
    /// A frontier from its size and nodes; `None` when the count of nodes is not the count of
    /// set bits of the size.
    pub fn from_parts(size: u64, nodes: Vec<Hash>) -> Option<Frontier> {
        (nodes.len() == size.count_ones() as usize).then_some(Frontier { size, nodes })
    }

    /// Leaves so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The subtree roots, largest first.
    pub fn nodes(&self) -> &[Hash] {
        &self.nodes
    }

    /// Appends a leaf (its [`leaf_hash`]); returns the subtrees completed by it, as (level,
    /// index at that level, root), lowest first (level 0 is the leaf itself).
    pub fn push(&mut self, leaf: Hash) -> Vec<(u32, u64, Hash)> {
        let mut completed = vec![(0, self.size, leaf)];
        let mut node = leaf;
        let mut level = 0u32;
        let mut index = self.size;
        while index & 1 == 1 {
            let left = self.nodes.pop().unwrap_or(node);
            node = node_hash(&left, &node);
            level += 1;
            index >>= 1;
            completed.push((level, index, node));
        }
        self.nodes.push(node);
        self.size += 1;
        completed
    }

    /// The tree's root (the empty root for no leaf).
    pub fn root(&self) -> Hash {
        let mut nodes = self.nodes.iter().rev();
        let Some(first) = nodes.next() else {
            return empty_root();
        };
        nodes.fold(*first, |acc, left| node_hash(left, &acc))
    }
}

/// Where a prover reads the tree: leaves, and the roots of perfect subtrees it stores.
pub trait NodeSource {
    /// The hashes of leaves `[start, end)`.
    fn leaves(&self, start: u64, end: u64) -> Result<Vec<Hash>, StoreError>;
    /// The root of the perfect subtree at `level` and `index` (leaves
    /// `[index · 2^level, (index + 1) · 2^level)`) when stored; `None` to compute it.
    fn stored_subtree(&self, level: u32, index: u64) -> Result<Option<Hash>, StoreError>;
}

/// The root of the perfect subtree at `level`, `index`.
fn subtree(source: &dyn NodeSource, level: u32, index: u64) -> Result<Hash, StoreError> {
    if let Some(hash) = source.stored_subtree(level, index)? {
        return Ok(hash);
    }
    if level <= 8 {
        let start = index << level;
        let leaves = source.leaves(start, start + (1 << level))?;
        return Ok(fold_perfect(leaves));
    }
    let left = subtree(source, level - 1, index << 1)?;
    let right = subtree(source, level - 1, (index << 1) | 1)?;
    Ok(node_hash(&left, &right))
}

fn fold_perfect(mut level: Vec<Hash>) -> Hash {
    while level.len() > 1 {
        level = level.chunks(2).map(|p| node_hash(&p[0], &p[1])).collect();
    }
    level.first().copied().unwrap_or_else(empty_root)
}

/// MTH of leaves `[start, end)`: RFC 6962 §2.1, split at the largest power of two below the
/// count, with perfect subtrees read (or computed) whole.
fn range_root(source: &dyn NodeSource, start: u64, end: u64) -> Result<Hash, StoreError> {
    let n = end - start;
    if n == 0 {
        return Ok(empty_root());
    }
    if n.is_power_of_two() && start % n == 0 {
        return subtree(source, n.trailing_zeros(), start / n);
    }
    let k = split(n);
    let left = range_root(source, start, start + k)?;
    let right = range_root(source, start + k, end)?;
    Ok(node_hash(&left, &right))
}

/// The largest power of two smaller than `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// The root of the tree of the first `size` leaves.
pub fn root(source: &dyn NodeSource, size: u64) -> Result<Hash, StoreError> {
    range_root(source, 0, size)
}

/// The audit path of leaf `index` in the tree of `size` leaves (RFC 6962 §2.1.1), leaf side
/// first.
pub fn inclusion_proof(
    source: &dyn NodeSource,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, StoreError> {
    if index >= size {
        return Err(StoreError::Unsupported(format!(
            "leaf {index} is not in a tree of {size} leaves"
        )));
    }
    let mut proof = Vec::new();
    path(source, index, 0, size, &mut proof)?;
    Ok(proof)
}

fn path(
    source: &dyn NodeSource,
    m: u64,
    start: u64,
    end: u64,
    out: &mut Vec<Hash>,
) -> Result<(), StoreError> {
    let n = end - start;
    if n <= 1 {
        return Ok(());
    }
    let k = split(n);
    if m < k {
        path(source, m, start, start + k, out)?;
        out.push(range_root(source, start + k, end)?);
    } else {
        path(source, m - k, start + k, end, out)?;
        out.push(range_root(source, start, start + k)?);
    }
    Ok(())
}

/// The proof that the tree of `size` leaves extends the tree of its first `old_size` leaves
/// (RFC 6962 §2.1.2).
pub fn consistency_proof(
    source: &dyn NodeSource,
    old_size: u64,
    size: u64,
) -> Result<Vec<Hash>, StoreError> {
    if old_size > size {
        return Err(StoreError::Unsupported(format!(
            "a tree of {size} leaves cannot extend one of {old_size}"
        )));
    }
    let mut proof = Vec::new();
    if old_size > 0 && old_size < size {
        subproof(source, old_size, 0, size, true, &mut proof)?;
    }
    Ok(proof)
}

fn subproof(
    source: &dyn NodeSource,
    m: u64,
    start: u64,
    end: u64,
    whole: bool,
    out: &mut Vec<Hash>,
) -> Result<(), StoreError> {
    let n = end - start;
    if m == n {
        if !whole {
            out.push(range_root(source, start, end)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(source, m, start, start + k, whole, out)?;
        out.push(range_root(source, start + k, end)?);
    } else {
        subproof(source, m - k, start + k, end, false, out)?;
        out.push(range_root(source, start, start + k)?);
    }
    Ok(())
}

/// Whether `proof` shows leaf `leaf` (its [`leaf_hash`]) at `index` in the tree of `size` leaves
/// whose root is `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// Whether `proof` shows the tree of `size` leaves with root `root` extends the tree of
/// `old_size` leaves with root `old_root` (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    old_size: u64,
    size: u64,
    old_root: &Hash,
    root: &Hash,
    proof: &[Hash],
) -> bool {
    if old_size > size {
        return false;
    }
    if old_size == size {
        return proof.is_empty() && old_root == root;
    }
    if old_size == 0 {
        return proof.is_empty();
    }
    let mut proof = proof.to_vec();
    if old_size.is_power_of_two() {
        proof.insert(0, *old_root);
    }
    let mut fn_ = old_size - 1;
    let mut sn = size - 1;
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let Some((first, rest)) = proof.split_first() else {
        return false;
    };
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && fr == *old_root && sr == *root
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation)] // Test trees hold a few dozen leaves.
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Leaves held in memory, no stored subtree: the reference prover.
    struct Memory(Vec<Hash>);

    impl NodeSource for Memory {
        fn leaves(&self, start: u64, end: u64) -> Result<Vec<Hash>, StoreError> {
            let end = usize::try_from(end).unwrap_or(usize::MAX).min(self.0.len());
            let start = usize::try_from(start).unwrap_or(end).min(end);
            Ok(self.0[start..end].to_vec())
        }
        fn stored_subtree(&self, _: u32, _: u64) -> Result<Option<Hash>, StoreError> {
            Ok(None)
        }
    }

    /// RFC 6962's MTH, read straight off its definition.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    fn hexes(hex_roots: &[&str]) -> Vec<Hash> {
        hex_roots
            .iter()
            .map(|h| hex::decode(h).expect("hex").try_into().expect("32 bytes"))
            .collect()
    }

    /// The test vectors of transparency-dev/merkle (`testonly/constants.go`): roots of the trees
    /// of the first 0…8 of eight leaves.
    #[test]
    fn roots_match_the_published_rfc6962_vectors() {
        let inputs: Vec<Vec<u8>> = [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
        .iter()
        .map(|h| hex::decode(h).expect("hex"))
        .collect();
        let roots = hexes(&[
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ]);
        let leaves: Vec<Hash> = inputs.iter().map(|i| leaf_hash(i)).collect();
        let mut frontier = Frontier::default();
        assert_eq!(frontier.root(), roots[0]);
        for (n, leaf) in leaves.iter().enumerate() {
            frontier.push(*leaf);
            assert_eq!(frontier.root(), roots[n + 1], "frontier, size {}", n + 1);
            let memory = Memory(leaves.clone());
            assert_eq!(
                root(&memory, n as u64 + 1).ok(),
                Some(roots[n + 1]),
                "size {}",
                n + 1
            );
        }
    }

    proptest! {
        // For any tree: the frontier's root is the definition's; every leaf's inclusion proof
        // verifies, and fails for another leaf or another root; every earlier size's
        // consistency proof verifies, and fails against another old root.
        #[test]
        fn proofs_verify_and_altered_ones_do_not(n in 1usize..80, seed: u64) {
            let leaves: Vec<Hash> = (0..n)
                .map(|i| leaf_hash(&(seed ^ i as u64).to_le_bytes()))
                .collect();
            let memory = Memory(leaves.clone());
            let mut frontier = Frontier::default();
            for l in &leaves {
                frontier.push(*l);
            }
            let size = n as u64;
            let top = mth(&leaves);
            prop_assert_eq!(frontier.root(), top);
            prop_assert_eq!(root(&memory, size).map_err(|e| TestCaseError::fail(e.to_string()))?, top);
            for i in 0..size {
                let proof = inclusion_proof(&memory, i, size).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(verify_inclusion(&leaves[i as usize], i, size, &proof, &top));
                prop_assert!(!verify_inclusion(&leaf_hash(b"other"), i, size, &proof, &top));
                prop_assert!(!verify_inclusion(&leaves[i as usize], i, size, &proof, &leaf_hash(b"root")));
            }
            for m in 0..=size {
                let old = mth(&leaves[..m as usize]);
                let proof = consistency_proof(&memory, m, size).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(verify_consistency(m, size, &old, &top, &proof), "{} -> {}", m, size);
                if m > 0 && m < size {
                    prop_assert!(!verify_consistency(m, size, &leaf_hash(b"forged"), &top, &proof));
                }
            }
        }
    }
}
